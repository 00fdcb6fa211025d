// The probe's tiny guest: a 16-bit real-mode VM of a few bytes, run once per process to measure
// what the backend delivers. KVM does not say whether its backend reports guest data hits, exits
// on int3 or on DR7.GD, or turns stores into read-only memory into exact MMIO exits: the
// software backends answer those differently from VMX/SVM (kvm-guest-debug.md 11).
#pragma once

#include <string>

namespace hwbp::kvm {

struct ProbeGuestResults {
  bool ran = false;
  std::string error;               // why it could not run, when !ran
  bool guest_debug_ioctl = false;  // KVM_SET_GUEST_DEBUG accepted (for kernels that do not
                                   // advertise KVM_CAP_SET_GUEST_DEBUG)
  bool data_hits = false;
  bool int3_exits = false;
  bool general_detect_exits = false;
  bool trapped_stores = false;
  // What each check saw, for messages ("exit HLT: the guest took #BP itself").
  std::string data_hits_seen, int3_seen, general_detect_seen, trapped_stores_seen;
};

ProbeGuestResults run_probe_guest(int kvm_fd, bool readonly_memory);

}  // namespace hwbp::kvm
