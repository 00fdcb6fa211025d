// The process-wide SIGTRAP handler and its chaining.
//
// Once installed, the handler stays for the life of the process: a perf sigtrap can still be
// pending after its event is closed, and an unhandled SIGTRAP kills the process (bpftrace #4021).
// The library interposes sigaction() and signal() for SIGTRAP only, so a program that installs
// its own handler before or after hwbp keeps receiving every SIGTRAP that is not hwbp's.
#pragma once

#include <signal.h>

namespace hwbp::inprocess {

// Idempotent and thread-safe.
void install_sigtrap_handler();
bool sigtrap_handler_installed() noexcept;

}  // namespace hwbp::inprocess
