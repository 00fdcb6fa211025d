// GuestDebugger::add and remove allocate nothing once warm, on a real guest: arming a set is a
// hot path for debuggers (issue 9: the bookkeeping cost 6.6x the KVM_SET_GUEST_DEBUG it serves).
// Counted with this binary's counting operator new (tests/support/allocation_counter.cpp).
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "support/allocation_counter.hpp"
#include "support/guest_test_support.hpp"

namespace hwbp::test::kvm {
namespace {

using hwbp::kvm::Engine;
using hwbp::kvm::GuestDebugger;
using hwbp::kvm::WatchId;
using hwbp::kvm::WatchSpec;

// The benchmark's set: 2 breakpoints and 2 write watches where the backend reports data hits,
// else 4 breakpoints (the debug registers do the same work).
std::array<WatchSpec, 4> arming_set() {
  const std::uint64_t code = at(g_unreached);
  if (!hwbp::kvm::probe().data_hits)
    return {WatchSpec{code, 1, Access::exec}, WatchSpec{code + 1, 1, Access::exec},
            WatchSpec{code + 2, 1, Access::exec}, WatchSpec{code + 3, 1, Access::exec}};
  return {WatchSpec{code, 1, Access::exec}, WatchSpec{code + 1, 1, Access::exec},
          WatchSpec{kData, 8, Access::write, Engine::hardware},
          WatchSpec{kData + 8, 8, Access::write, Engine::hardware}};
}

// A vCPU that has run to a breakpoint (its registers arrive with each exit from then on), then
// one arm + disarm of the set: the debugger's storage has grown to the set's size.
struct WarmDebugger {
  TestVm vm;
  std::unique_ptr<GuestDebugger> dbg;
  std::array<WatchSpec, 4> set = arming_set();
  std::array<WatchId, 4> ids{};
  WarmDebugger() {
    vm.enter(0, at(g_loop), kData, 1u << 30);
    dbg = std::make_unique<GuestDebugger>(vm.handles());
    const WatchId bp = dbg->add(WatchSpec{at(g_loop_bp), 1, Access::exec});
    const GuestStop s = vm.run(0, dbg.get());
    EXPECT_EQ(s.kind, GuestStop::Kind::events) << s.describe();
    dbg->remove(bp);
    dbg->add(set, ids);
    dbg->remove(ids);
  }
};

TEST(KvmArmingAllocations, AddAndRemoveOfASetAllocateNothing) {
  HWBP_KVM_REQUIRE();
  WarmDebugger w;
  AllocationCounter counter;
  for (int round = 0; round < 50; ++round) {
    w.dbg->add(w.set, w.ids);
    ASSERT_EQ(w.dbg->applied_state(0).arch.debugreg[7] & 0xaa, 0xaau) << "4 debug registers armed";
    w.dbg->remove(w.ids);
    ASSERT_EQ(w.dbg->applied_state(0).control, 0u);
  }
  EXPECT_EQ(counter.count(), 0u) << "heap allocations in 50 rounds of add + remove of 4 watches";
}

TEST(KvmArmingAllocations, AddAndRemoveOfOneWatchAllocateNothing) {
  HWBP_KVM_REQUIRE();
  WarmDebugger w;
  AllocationCounter counter;
  for (int round = 0; round < 50; ++round) w.dbg->remove(w.dbg->add(w.set[round % 4]));
  EXPECT_EQ(counter.count(), 0u);
}

// The vector-returning add allocates its result, and nothing else.
TEST(KvmArmingAllocations, TheVectorFormAllocatesOnlyItsResult) {
  HWBP_KVM_REQUIRE();
  WarmDebugger w;
  AllocationCounter counter;
  const std::vector<WatchId> ids = w.dbg->add(w.set);
  EXPECT_EQ(counter.count(), 1u);
  w.dbg->remove(ids);
  EXPECT_EQ(counter.count(), 1u);
}

// The reused storage does not leak into the next change: a refused add (a fifth slot; too few
// ids) leaves the armed set as it was, and the set is removed whole afterwards.
TEST(KvmArmingAllocations, ARefusalKeepsTheArmedSet) {
  HWBP_KVM_REQUIRE();
  WarmDebugger w;
  w.dbg->add(w.set, w.ids);
  const kvm_guest_debug before = w.dbg->applied_state(0);
  EXPECT_THROW(w.dbg->add(WatchSpec{at(g_unreached) + 8, 1, Access::exec, Engine::hardware}), hwbp::Error);
  EXPECT_EQ(w.dbg->applied_state(0).arch.debugreg[7], before.arch.debugreg[7]);
  EXPECT_EQ(w.dbg->watches().size(), 4u);
  std::array<WatchId, 3> too_few{};
  EXPECT_THROW(w.dbg->add(w.set, too_few), hwbp::Error) << "3 ids for 4 watches";
  w.dbg->remove(w.ids);
  EXPECT_TRUE(w.dbg->watches().empty());
}

}  // namespace
}  // namespace hwbp::test::kvm
