// Kernel errno -> hwbp::Error with a message that says what happened and what to do.
#pragma once

#include <sys/types.h>

#include <string>

#include "hwbp/error.hpp"
#include "perf/event.hpp"

namespace hwbp::perf {

// What the library knew when the syscall failed; lets ENOSPC say who holds the slots.
struct OpenContext {
  const BreakpointAttr* attr = nullptr;
  pid_t pid = 0;            // the target thread (0 = caller)
  int cpu = -1;
  unsigned slots_total = 0;  // slots this kernel grants a thread (probe), 0 if unknown
  unsigned slots_ours = 0;   // slots hwbp itself already holds on that thread
  // Set when the caller cannot tell how many slots are its own (Event::open): the message then
  // does not split the slots into "by hwbp" and "elsewhere".
  bool slots_ours_unknown = false;
};

// e.g. ENOSPC: "all 4 debug-register slots are in use on thread 1234 (3 by hwbp, 1 elsewhere —
// another debugger?); remove a watch or use a smaller range"
// EACCES/EPERM: names perf_event_paranoid's value and how to change it (sysctl / CAP_PERFMON).
// EINVAL: which field the kernel rejected, as far as it can be told.
Error error_from_errno(int err, const OpenContext& ctx);

// perf_event_paranoid as read from /proc/sys/kernel/perf_event_paranoid, or nullopt-like -100
// when unreadable.
int read_paranoid() noexcept;

}  // namespace hwbp::perf
