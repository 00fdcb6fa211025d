// Arming and disarming a guest's watch set plans without a single heap allocation once warm:
// the core's split, slot fit and slot table (inline containers), the debugger's watch set
// (a vector that keeps its capacity) and the DR7 composition. Counted with the test binary's
// counting operator new (tests/support/allocation_counter.cpp). The real GuestDebugger gets the
// same check on a real guest in tests/kvm/arming_alloc_test.cpp (test VM).
#include <gtest/gtest.h>

#include <array>

#include "core/slot_fit.hpp"
#include "core/split.hpp"
#include "kvm/support/set_planning.hpp"
#include "support/allocation_counter.hpp"

namespace hwbp::test::kvm {
namespace {

using hwbp::kvm::WatchId;

// The counter sees allocations at all: the vector-returning split and a std::vector do allocate
// (otherwise the zero counts below would prove nothing).
TEST(KvmPlanningAllocations, TheCounterSeesAllocations) {
  AllocationCounter counter;
  const auto chunks = core::split_range(core::arch_x86_guest(true), core::WatchRequest{0x1000, 16, Access::write});
  EXPECT_EQ(chunks.size(), 2u);
  EXPECT_EQ(counter.count(), 1u);
}

TEST(KvmPlanningAllocations, ArmingAndDisarmingASetAllocateNothingOnceWarm) {
  SetPlanning planning;
  std::array<WatchId, std::size(kPlanningSet)> ids{};
  // Warm-up: the watch set and the removal storage grow to the set's size once.
  ASSERT_TRUE(planning.add(kPlanningSet, ids));
  planning.remove(ids);
  AllocationCounter counter;
  for (int round = 0; round < 100; ++round) {
    ASSERT_TRUE(planning.add(kPlanningSet, ids));
    ASSERT_EQ(planning.size(), std::size(kPlanningSet));
    // Every debug register in use: 2 breakpoints, 2 eight-byte write watches (DR7 bits 0-7 = G0-G3).
    ASSERT_EQ(planning.applied().arch.debugreg[7] & 0xaa, 0xaau);
    planning.remove(ids);
    ASSERT_EQ(planning.size(), 0u);
    ASSERT_EQ(planning.applied().control, 0u);
  }
  EXPECT_EQ(counter.count(), 0u) << "heap allocations in 100 rounds of add + remove of 4 watches";
}

TEST(KvmPlanningAllocations, TheCoreFitAndTableAllocateNothing) {
  const core::ArchInfo arch = core::arch_x86_guest(true);
  core::SlotTable table(arch, 4, {4});
  AllocationCounter counter;
  // A 15-byte watch at an odd address: 4 chunks (1 + 8 + 4 + 2), all the registers.
  const core::SlotFit fit = core::fit_slots(arch, core::WatchRequest{0x1007, 15, Access::write}, table, 4);
  ASSERT_EQ(fit.needed, 4u);
  ASSERT_TRUE(fit.plan);
  table.commit(*fit.plan, fit.key_span());
  const core::SlotTable copy = table;
  EXPECT_EQ(copy.used(), 4u);
  const core::SlotFit full = core::fit_slots(arch, core::WatchRequest{0x2000, 1, Access::exec}, table, 4);
  EXPECT_FALSE(full.plan) << "a fifth slot";
  const core::SlotFit too_many = core::fit_slots(arch, core::WatchRequest{0x3001, 32, Access::write}, table, 4);
  EXPECT_EQ(too_many.needed, 7u);  // 1 + 2 + 4 + 8 + 8 + 8 + 1
  EXPECT_TRUE(too_many.keys.empty());
  EXPECT_EQ(table.release(fit.plan->slot_of_key).size(), 4u);
  EXPECT_EQ(counter.count(), 0u);
}

}  // namespace
}  // namespace hwbp::test::kvm
