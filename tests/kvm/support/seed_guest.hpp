// The seed's scenario (the 2009 LKML thread behind hwbp, seed-lkml-2009-hw-breakpoints-kvm.txt):
// a guest that loads all four debug registers — the debugger's DR0-DR3 through
// KVM_SET_GUEST_DEBUG — and hits them over and over, while the VMM process itself is watched by
// a host perf breakpoint. KVM must put the host's breakpoints back after every guest run
// (hw_breakpoint_restore(), gated by hw_breakpoint_active(): arch/x86/kvm/x86.c,
// vcpu_enter_guest), or the host misses the VMM's writes.
#pragma once

#include <cstdint>
#include <functional>

#include "hwbp/kvm.hpp"
#include "support/test_vmm.hpp"

namespace hwbp::test::kvm {

struct SeedRun {
  std::uint64_t exits = 0;        // KVM_RUN round trips
  std::uint64_t breakpoints = 0;  // guest execute-breakpoint events
  std::uint64_t data = 0;         // guest data events
  bool finished = false;          // the guest ran to its end
};

// Arms DR0/DR1 on the guest loop's two nops and DR2/DR3 on its two stores (write trapping for
// the stores where the backend reports no data hits), runs `iterations` rounds, calls
// `after_exit` after every exit (the VMM's own work, e.g. a write the host watches).
SeedRun run_seed_guest(TestVm& vm, std::uint64_t iterations, const std::function<void()>& after_exit);

}  // namespace hwbp::test::kvm
