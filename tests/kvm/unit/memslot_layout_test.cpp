#include "kvm/memslot_layout.hpp"

#include <gtest/gtest.h>

namespace hwbp::kvm {
namespace {

using Runs = std::vector<MemslotRun>;

TEST(KvmMemslotRuns, NoTrappedPageIsTheRegionItself) {
  EXPECT_EQ(memslot_runs(0x100000, 0x10000, {}), (Runs{{0x100000, 0x10000, false}}));
}

TEST(KvmMemslotRuns, OnePageInTheMiddleMakesThreeRuns) {
  const std::uint64_t pages[] = {0x104000};
  EXPECT_EQ(memslot_runs(0x100000, 0x10000, pages),
            (Runs{{0x100000, 0x4000, false}, {0x104000, 0x1000, true}, {0x105000, 0xb000, false}}));
}

TEST(KvmMemslotRuns, AdjacentPagesMergeEdgesNeedNoEmptyRun) {
  const std::uint64_t pages[] = {0x100000, 0x101000, 0x10f000};
  EXPECT_EQ(memslot_runs(0x100000, 0x10000, pages),
            (Runs{{0x100000, 0x2000, true}, {0x102000, 0xd000, false}, {0x10f000, 0x1000, true}}));
}

TEST(KvmMemslotRuns, PagesOutsideTheRegionAndRepeatsAreIgnored) {
  const std::uint64_t pages[] = {0x0ff000, 0x102000, 0x102000, 0x110000};
  EXPECT_EQ(memslot_runs(0x100000, 0x10000, pages),
            (Runs{{0x100000, 0x2000, false}, {0x102000, 0x1000, true}, {0x103000, 0xd000, false}}));
}

TEST(KvmMemslotRuns, WholeRegionTrapped) {
  const std::uint64_t pages[] = {0x0, 0x1000};
  EXPECT_EQ(memslot_runs(0, 0x2000, pages), (Runs{{0, 0x2000, true}}));
}

}  // namespace
}  // namespace hwbp::kvm
