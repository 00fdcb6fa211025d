// Start-up probe: what this kernel really grants, discovered the way perf's bp_account test
// does (open until refused), not assumed.
#pragma once

#include <string>

namespace hwbp::perf {

struct Capabilities {
  bool breakpoints = false;     // PERF_TYPE_BREAKPOINT events can be opened at all
  int open_errno = 0;           // why not, when !breakpoints
  unsigned slots = 0;           // write watchpoints one thread can hold at once
  bool sigtrap = false;         // attr.sigtrap (5.13+)
  bool remove_on_exec = false;  // attr.remove_on_exec (5.13+)
  bool inherit_thread = false;  // attr.inherit_thread (5.13+)
  bool modify = false;          // PERF_EVENT_IOC_MODIFY_ATTRIBUTES (4.17+)
  int paranoid = -100;          // /proc/sys/kernel/perf_event_paranoid (-100: unreadable)
  std::string kernel_release;   // uname -r
  std::string summary() const;  // one line per fact, for doctor-style output
};

// Probes with events on a private variable and closes everything it opened. Runs in a
// short-lived child process (a fresh task: slots the calling thread already holds do not lower
// the count); falls back to the calling thread if the child cannot be created.
Capabilities probe_capabilities();
// Probed once per process (thread-safe), then cached.
const Capabilities& capabilities();

}  // namespace hwbp::perf
