// Does this machine deliver debug-register hits at all? Some hypervisors accept breakpoint
// events (the kernel programs DR7 and perf_event_open succeeds) but never deliver the #DB to
// the guest, so the event counts nothing. Only a real hit proves that hardware watches work:
// the probe arms a counting write watchpoint on a private variable and writes it three times.
// `hwbp doctor`, the watch engines (which fall back to page protection when hits are not
// delivered) and the tests (which skip what needs hits) all ask this one probe.
#pragma once

#include <cstdint>
#include <string>

namespace hwbp::perf {

struct HitDelivery {
  enum class State {
    delivered,  // every probe write was counted
    silent,     // the event opened but counted none: debug exceptions are not delivered here
    partial,    // some were counted: something else multiplexes the debug registers
    unknown,    // no watchpoint could be armed (no perf permission, no free slot)
  };
  State state = State::unknown;
  int counted = 0;
  int written = 0;
  int open_errno = 0;  // why the probe could not arm, for State::unknown
  std::string detail;  // one line: what was observed
};

// Runs the probe now (three writes, one event; a few microseconds).
HitDelivery probe_hit_delivery();
// Probed once per process (thread-safe), then cached.
const HitDelivery& hit_delivery();
// True unless the probe proved that hits are never delivered (State::silent), or the process
// asked to arm the debug registers regardless (below).
bool hits_delivered();

// For measurements of arming costs only (bench/): the kernel opens, modifies and closes
// breakpoint events the same way whether or not the hypervisor delivers their #DB, so arming
// and re-targeting can be timed natively on a machine whose debug registers are silent. Hits
// are never delivered there: nothing that needs one may use this.
void set_arm_debug_registers_even_if_silent(bool on);

}  // namespace hwbp::perf
