// The `hwbp plan` model: chunks, sharing, slot numbers, overflow, rotation, per-arch pools.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plan_model.hpp"
#include "hwbp/error.hpp"

namespace hwbp::cli {
namespace {

using namespace hwbp::core;

PlanWatch w(std::uintptr_t addr, std::size_t len, Access access = Access::write) {
  return PlanWatch{"w@" + std::to_string(addr), WatchRequest{addr, len, access}};
}

WatchPlan plan(const std::vector<PlanWatch>& ws, bool flexible = false,
               const ArchInfo& arch = arch_x86_64(), unsigned ncpus = 4) {
  return plan_watches(arch, ncpus, ws, flexible);
}

// Slot of every chunk of watch `i`, -1 for none.
std::vector<int> slots_of(const WatchPlan& p, std::size_t i) {
  std::vector<int> out;
  for (const auto& c : p.chunks)
    if (c.watch == i) out.push_back(c.slot ? static_cast<int>(*c.slot) : -1);
  return out;
}

TEST(PlanModel, UnalignedRangeSplitsIntoThreeSlots) {
  const WatchPlan p = plan({w(0x1003, 13)});
  ASSERT_EQ(p.chunks.size(), 3u);
  EXPECT_EQ(p.chunks[0].chunk, (Chunk{0x1003, 1, HwType::write}));
  EXPECT_EQ(p.chunks[1].chunk, (Chunk{0x1004, 4, HwType::write}));
  EXPECT_EQ(p.chunks[2].chunk, (Chunk{0x1008, 8, HwType::write}));
  EXPECT_EQ(slots_of(p, 0), (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(p.fits);
  EXPECT_EQ(p.slots_needed(), 3u);
  EXPECT_EQ(p.slots_available(), 4u);
  EXPECT_EQ(p.chunks[0].shared_by, (std::vector<std::size_t>{0}));
  EXPECT_TRUE(p.overflowed.empty());
}

TEST(PlanModel, IdenticalChunksShareOneSlot) {
  // modify needs the same hardware type as w, so they share too; rw does not.
  const WatchPlan p = plan({w(0x1000, 8), w(0x1000, 8, Access::modify), w(0x1000, 8, Access::read_write)});
  EXPECT_EQ(slots_of(p, 0), (std::vector<int>{0}));
  EXPECT_EQ(slots_of(p, 1), (std::vector<int>{0}));
  EXPECT_EQ(slots_of(p, 2), (std::vector<int>{1}));
  EXPECT_EQ(p.chunks[0].shared_by, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(p.chunks[1].shared_by, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(p.chunks[2].shared_by, (std::vector<std::size_t>{2}));
  EXPECT_EQ(p.slots_needed(), 2u);
}

TEST(PlanModel, OverflowWithoutFlexibleDoesNotFit) {
  const WatchPlan p = plan({w(0x1000, 32), w(0x2000, 8)});
  EXPECT_FALSE(p.fits);
  EXPECT_EQ(p.slots_needed(), 5u);
  EXPECT_EQ(p.slots_available(), 4u);
  EXPECT_EQ(p.overflowed, (std::vector<std::size_t>{1}));
  EXPECT_TRUE(p.never_fit.empty());
  EXPECT_EQ(slots_of(p, 1), (std::vector<int>{-1}));
  EXPECT_FALSE(p.chunks.back().rotates);
}

TEST(PlanModel, LaterWatchStillFitsAfterAnOverflow) {
  // As arming one by one would: the 2-chunk watch is refused, the 1-chunk one gets slot 3.
  const WatchPlan p = plan({w(0x1000, 24), w(0x2000, 16), w(0x3000, 1)});
  EXPECT_EQ(p.overflowed, (std::vector<std::size_t>{1}));
  EXPECT_EQ(slots_of(p, 2), (std::vector<int>{3}));
  EXPECT_FALSE(p.fits);
}

TEST(PlanModel, FlexibleRotatesTheWatchesBeyondTheSlots) {
  std::vector<PlanWatch> ws;
  for (std::uintptr_t a = 0x1000; a <= 0x6000; a += 0x1000) ws.push_back(w(a, 8));
  const WatchPlan p = plan(ws, true);
  EXPECT_TRUE(p.fits);
  EXPECT_EQ(p.overflowed, (std::vector<std::size_t>{3, 4, 5}));
  EXPECT_EQ(slots_of(p, 2), (std::vector<int>{2}));
  for (const auto& c : p.chunks) EXPECT_EQ(c.rotates, c.watch >= 3);
  EXPECT_EQ(p.pools[0].free, 1u);
  EXPECT_EQ(p.slots_needed(), 6u);
}

TEST(PlanModel, FlexibleGivesUpFixedSlotsUntilTheLargestRotatingWatchFits) {
  // 3 fixed slots would leave 1, too few for the 2-chunk watch: both rotate through all 4.
  const WatchPlan p = plan({w(0x1000, 24), w(0x2000, 16)}, true);
  EXPECT_TRUE(p.fits);
  EXPECT_EQ(p.overflowed, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(p.pools[0].free, 4u);
  for (const auto& c : p.chunks) EXPECT_TRUE(c.rotates);
}

TEST(PlanModel, WatchLargerThanThePoolNeverFits) {
  for (bool flexible : {false, true}) {
    const WatchPlan p = plan({w(0x1000, 64)}, flexible);
    EXPECT_FALSE(p.fits);
    EXPECT_EQ(p.never_fit, (std::vector<std::size_t>{0}));
    for (const auto& c : p.chunks) EXPECT_FALSE(c.rotates);
  }
}

TEST(PlanModel, Aarch64UsesSeparatePoolsAndByteSelect) {
  const WatchPlan p = plan({w(0x1003, 13), w(0x4000, 1, Access::exec)}, false, arch_aarch64());
  ASSERT_EQ(p.chunks.size(), 3u);
  EXPECT_EQ(p.chunks[0].chunk, (Chunk{0x1003, 5, HwType::write}));
  EXPECT_EQ(p.chunks[1].chunk, (Chunk{0x1008, 8, HwType::write}));
  EXPECT_EQ(p.chunks[2].chunk, (Chunk{0x4000, 4, HwType::exec}));
  EXPECT_EQ(slots_of(p, 0), (std::vector<int>{0, 1}));
  EXPECT_EQ(slots_of(p, 1), (std::vector<int>{0}));  // slot 0 of the other pool
  EXPECT_EQ(p.chunks[2].pool, static_cast<unsigned>(SlotClass::inst));
  ASSERT_EQ(p.pools.size(), 2u);
  EXPECT_EQ(p.pools[0].available, 6u);
  EXPECT_EQ(p.pools[1].available, 4u);
  EXPECT_EQ(p.pool, static_cast<unsigned>(SlotClass::data));
  EXPECT_EQ(std::string(pool_name(arch_aarch64(), p.pool)), "data");
  EXPECT_TRUE(p.fits);
}

TEST(PlanModel, Aarch64DataOverflowIsTheDecidingPool) {
  std::vector<PlanWatch> ws{w(0x400000, 1, Access::exec)};
  for (std::uintptr_t a = 0x1000; a <= 0x5000; a += 0x1000) ws.push_back(w(a, 8));
  const WatchPlan p = plan(ws, false, arch_aarch64());
  EXPECT_FALSE(p.fits);
  EXPECT_EQ(p.pool, static_cast<unsigned>(SlotClass::data));
  EXPECT_EQ(p.slots_needed(), 5u);
  EXPECT_EQ(p.slots_available(), 4u);
  EXPECT_EQ(p.overflowed, (std::vector<std::size_t>{5}));
}

TEST(PlanModel, ReadOnX86NeedsReadWriteSlots) {
  const WatchPlan p = plan({w(0x1000, 4, Access::read)});
  EXPECT_EQ(p.chunks[0].chunk.type, HwType::read_write);
}

TEST(PlanModel, ExecOnX86TakesOneSlotOfPerfLength) {
  const WatchPlan p = plan({w(0x401000, 1, Access::exec)});
  ASSERT_EQ(p.chunks.size(), 1u);
  EXPECT_EQ(p.chunks[0].chunk, (Chunk{0x401000, 8, HwType::exec}));
}

TEST(PlanModel, CpuCountDoesNotChangeATaskBudget) {
  // Tasks never constrain each other and nothing is CPU-bound: 1 or 4096 CPUs, same verdict.
  for (unsigned n : {1u, 4096u}) {
    const WatchPlan p = plan({w(0x1000, 32), w(0x2000, 8)}, false, arch_x86_64(), n);
    EXPECT_EQ(p.slots_available(), 4u);
    EXPECT_EQ(p.overflowed, (std::vector<std::size_t>{1}));
  }
}

std::string error_of(const std::vector<PlanWatch>& ws, unsigned ncpus = 4) {
  try {
    plan_watches(arch_x86_64(), ncpus, ws, false);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_request);
    return e.what();
  }
  return "";
}

TEST(PlanModel, InvalidWatchesUseValidateRangeMessages) {
  EXPECT_EQ(error_of({PlanWatch{"0x0", {0, 8, Access::write}}}),
            "watch spec '0x0': address 0x0 (length 8): cannot watch the null address; pass the "
            "object's address");
  EXPECT_EQ(error_of({PlanWatch{"0x1000:8192", {0x1000, 8192, Access::write}}}),
            "watch spec '0x1000:8192': length 8192 at 0x1000: a range watch covers at most 4096 "
            "bytes; watch a smaller range");
  const std::string kernel = error_of({w(0x1000, 8), PlanWatch{"k", {0xffffffff81000000, 8, Access::write}}});
  EXPECT_EQ(kernel.rfind("watch spec 'k': length 8 at 0xffffffff81000000: reaches kernel space", 0), 0u) << kernel;
  EXPECT_EQ(error_of({w(0x1000, 8)}, 0), "--cpus 0: a machine has at least 1 CPU");
}

TEST(PlanModel, NoWatchesFitTrivially) {
  const WatchPlan p = plan({});
  EXPECT_TRUE(p.fits);
  EXPECT_EQ(p.slots_needed(), 0u);
  EXPECT_EQ(p.slots_available(), 4u);
}

}  // namespace
}  // namespace hwbp::cli
