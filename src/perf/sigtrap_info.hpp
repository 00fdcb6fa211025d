// The siginfo of a perf sigtrap (perf_event_attr.sigtrap, Linux 5.13): the one decoder for the
// library's SIGTRAP handler and the CLI's tracer (which reads it with PTRACE_GETSIGINFO).
//
// The kernel fills it in kernel/events/core.c, perf_sigtrap() -> send_sig_perf(): si_signo
// SIGTRAP, si_code TRAP_PERF, si_addr = the breakpoint address when the event fired (a moved
// breakpoint keeps its trap-time address), si_perf_data = attr.sig_data, si_perf_type =
// attr.type, si_perf_flags = TRAP_PERF_FLAG_ASYNC when the signal could not be delivered
// synchronously (SIGTRAP blocked in that thread). glibc 2.36's siginfo_t has no si_perf_* names, so
// the layout is mirrored from include/uapi/asm-generic/siginfo.h (_sifields._sigfault: _addr,
// then the union whose _perf member is { unsigned long _data; __u32 _type; __u32 _flags; }) and
// checked against glibc's siginfo_t where both name a field.
#pragma once

#include <signal.h>

#include <cstdint>
#include <optional>

namespace hwbp::perf {

// include/uapi/asm-generic/siginfo.h.
inline constexpr int kTrapPerf = 6;                   // TRAP_PERF (si_code)
inline constexpr std::uint32_t kTrapPerfFlagAsync = 1;  // TRAP_PERF_FLAG_ASYNC (si_perf_flags)

struct PerfTrap {
  std::uintptr_t addr = 0;   // si_addr: the breakpoint address at trap time (0 for uprobes)
  std::uint64_t data = 0;    // si_perf_data: the event's sig_data
  std::uint32_t type = 0;    // si_perf_type: the event's attr.type (PERF_TYPE_BREAKPOINT, ...)
  std::uint32_t flags = 0;   // si_perf_flags
  bool async() const noexcept { return (flags & kTrapPerfFlagAsync) != 0; }
};

// nullopt unless this is a perf sigtrap (SIGTRAP with si_code TRAP_PERF). Async-signal-safe.
std::optional<PerfTrap> perf_trap(const siginfo_t& si) noexcept;

}  // namespace hwbp::perf
