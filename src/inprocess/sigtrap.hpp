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

// The action the program believes is installed for SIGTRAP (what it would get from sigaction).
struct sigaction chained_sigtrap_action() noexcept;

// siginfo fields of a perf sigtrap. glibc's headers may lack the names; the x86-64 layout is
// si_addr at 16, si_perf_data at 24 (u64), si_perf_type at 32 (u32), si_perf_flags at 36 (u32).
struct PerfTrapInfo {
  unsigned long long data;
  unsigned type;
  unsigned flags;
};
PerfTrapInfo perf_trap_info(const siginfo_t* si) noexcept;
inline constexpr unsigned kTrapPerfFlagAsync = 1;  // TRAP_PERF_FLAG_ASYNC

}  // namespace hwbp::inprocess
