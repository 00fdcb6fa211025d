// The seed's interaction, end to end on the real kernel: while a guest loads all four debug
// registers and hits them thousands of times, a libhwbp watch (a host perf breakpoint with a
// callback) on a VMM variable that the VMM writes after every exit gets every hit, with exact
// values. KVM restores the host's breakpoints on every exit (hw_breakpoint_restore()), gated by
// the lock-free hw_breakpoint_active() the thread asked for.
#include <gtest/gtest.h>

#include <atomic>

#include "hwbp/hwbp.hpp"
#include "support/guest_test_support.hpp"
#include "support/hit_delivery.hpp"
#include "support/seed_guest.hpp"

namespace hwbp::test::kvm {
namespace {

volatile std::uint64_t vmm_variable = 0;

std::atomic<std::uint64_t> host_hits{0};
std::atomic<std::uint64_t> inexact{0};

TEST(SeedKvmHostBreakpoints, EveryVmmWriteIsDeliveredWhileTheGuestUsesAllFourRegisters) {
  HWBP_KVM_REQUIRE();
  HWBP_REQUIRE_HITS();
  host_hits = 0;
  inexact = 0;
  vmm_variable = 0;
  hwbp::Watch w = hwbp::watch(
      hwbp::WatchOptions{reinterpret_cast<std::uintptr_t>(&vmm_variable), sizeof vmm_variable, Access::write,
                         hwbp::Target::process(), [](const hwbp::Hit& h) {
                           // Each VMM write adds one: exact values are old = n - 1, new = n.
                           const std::uint64_t n = host_hits.fetch_add(1, std::memory_order_relaxed) + 1;
                           if (!h.has_values || !h.old_known || h.old_value != n - 1 || h.new_value != n)
                             inexact.fetch_add(1, std::memory_order_relaxed);
                         }});
  ASSERT_TRUE(hwbp::active()) << "the lock-free check sees the host watch";
  TestVm vm;
  constexpr std::uint64_t kIterations = 1000;
  const SeedRun run = run_seed_guest(vm, kIterations, [] { vmm_variable = vmm_variable + 1; });
  ASSERT_TRUE(run.finished) << "the guest did not run to its end";
  EXPECT_EQ(run.breakpoints, 2 * kIterations) << "DR0 and DR1 fired on every iteration";
  EXPECT_EQ(run.data, 2 * kIterations) << "DR2 and DR3 (or their write traps) fired on every iteration";
  EXPECT_GE(run.exits, 4 * kIterations);
  EXPECT_EQ(vmm_variable, run.exits);
  EXPECT_EQ(host_hits.load(), run.exits)
      << "every VMM write after a guest run was seen by the host breakpoint";
  EXPECT_EQ(inexact.load(), 0u) << "every host hit had exact old and new values";
  EXPECT_EQ(w.hits(), run.exits);
}

}  // namespace
}  // namespace hwbp::test::kvm
