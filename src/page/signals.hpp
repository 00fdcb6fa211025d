// The page engine's signal handlers and their chaining.
//
// SIGSEGV (and SIGSYS, for syscall user dispatch) handlers are installed with the raw
// rt_sigaction so that they return through the engine's own restorer (raw_syscall.hpp). The
// program keeps its view of both signals: the library's interposed sigaction() (in
// src/inprocess/sigtrap.cpp) asks virtual_sigaction() first, so a handler the program installs
// before or after the engine receives every SIGSEGV/SIGSYS that is not the engine's, and an
// unhandled one gets the default action with its original siginfo.
// The displaced step's single-step trap arrives through the library's SIGTRAP handler, which
// offers it to on_sigtrap() first.
#pragma once

#include <signal.h>

namespace hwbp::page {

using Handler = void (*)(int, siginfo_t*, void*);

// Installs `handler` for sig (SIGSEGV or SIGSYS) once; later calls are no-ops. Throws hwbp::Error.
void install_handler(int sig, Handler handler);
bool handler_installed(int sig) noexcept;
// Hands a signal that is not the engine's to what the program installed (or the default action:
// the default is restored and the faulting instruction re-runs, so the kernel reports it).
void chain(int sig, siginfo_t* si, void* uc) noexcept;

}  // namespace hwbp::page

// Hooks called by the library's interposed sigaction() and its SIGTRAP handler
// (src/inprocess/sigtrap.cpp, weak references there).
extern "C" bool hwbp_page_virtual_sigaction(int sig, const struct sigaction* act, struct sigaction* oldact,
                                            int* result) noexcept;
extern "C" bool hwbp_page_sigtrap(siginfo_t* si, void* uc) noexcept;
