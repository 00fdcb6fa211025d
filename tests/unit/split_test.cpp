#include "core/split.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <vector>

namespace hwbp::core {
namespace {

const ArchInfo kX86 = arch_x86_64();
const ArchInfo kArm = arch_aarch64();

// Brute force: fewest naturally aligned 1/2/4/8 chunks tiling [addr, addr + len) exactly.
std::size_t x86_min_chunks(std::uintptr_t addr, std::size_t len) {
  std::vector<std::size_t> best(len + 1, SIZE_MAX);
  best[len] = 0;
  for (std::size_t i = len; i-- > 0;) {
    for (std::size_t size : {1, 2, 4, 8}) {
      if ((addr + i) % size != 0 || i + size > len || best[i + size] == SIZE_MAX) continue;
      best[i] = std::min(best[i], best[i + size] + 1);
    }
  }
  return best[0];
}

// What one debug register can hold (Intel SDM vol. 3, 18.2.5: 1/2/4/8 bytes, naturally aligned;
// Arm ARM D2.10.5, DBGWCR.BAS: any bytes inside one aligned doubleword).
bool one_slot_holds(const ArchInfo& arch, const Chunk& c) {
  if (c.type == HwType::exec) return c.len == arch.exec_len;
  if (c.len == 0 || c.len > 8) return false;
  if (arch.byte_select) return c.addr / 8 == (c.addr + c.len - 1) / 8;
  return (c.len & (c.len - 1)) == 0 && c.addr % c.len == 0;
}

std::size_t granules_touched(std::uintptr_t addr, std::size_t len) {
  return (addr + len - 1) / 8 - addr / 8 + 1;
}

void check_exact_cover(const ArchInfo& arch, const WatchRequest& r) {
  SCOPED_TRACE(testing::Message() << arch.name << " addr 0x" << std::hex << r.addr << std::dec
                                  << " len " << r.len << " access " << to_string(r.access));
  ASSERT_FALSE(validate_range(arch, r));
  const auto chunks = split_range(arch, r);
  EXPECT_EQ(chunk_count(arch, r), chunks.size());
  // Count coverage of each byte in a window with a margin on both sides.
  const std::uintptr_t lo = r.addr - 16;
  std::vector<int> covered(r.len + 32, 0);
  std::uintptr_t prev_end = 0;
  for (const Chunk& c : chunks) {
    EXPECT_EQ(c.type, hw_type_for(arch, r.access));
    EXPECT_GE(c.addr, prev_end) << "chunks out of order or overlapping";
    prev_end = c.addr + c.len;
    EXPECT_TRUE(one_slot_holds(arch, c)) << "chunk " << int(c.len) << "@0x" << std::hex << c.addr;
    for (std::size_t b = 0; b < c.len; ++b) {
      ASSERT_GE(c.addr + b, lo);
      ASSERT_LT(c.addr + b - lo, covered.size());
      ++covered[c.addr + b - lo];
    }
  }
  for (std::size_t i = 0; i < covered.size(); ++i) {
    const bool inside = lo + i >= r.addr && lo + i < r.addr + r.len;
    ASSERT_EQ(covered[i], inside ? 1 : 0) << "byte 0x" << std::hex << lo + i;
  }
  if (arch.byte_select) {
    EXPECT_EQ(chunks.size(), granules_touched(r.addr, r.len));
  } else {
    EXPECT_EQ(chunks.size(), x86_min_chunks(r.addr, r.len));
  }
}

TEST(SplitProperty, ExactMinimalCoverForAllOffsetsAndLengths) {
  for (const ArchInfo* arch : {&kX86, &kArm}) {
    for (Access access : {Access::write, Access::read_write, Access::read, Access::modify}) {
      for (std::uintptr_t offset = 0; offset < 16; ++offset) {
        for (std::size_t len = 1; len <= 64; ++len) {
          check_exact_cover(*arch, WatchRequest{0x10000 + offset, len, access});
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(SplitProperty, LargestRangeAndHighUserAddress) {
  check_exact_cover(kX86, WatchRequest{0x1001, kMaxRangeLen, Access::write});
  check_exact_cover(kArm, WatchRequest{0x1001, kMaxRangeLen, Access::write});
  check_exact_cover(kX86, WatchRequest{0x7fffffffefc3, 61, Access::write});
  check_exact_cover(kArm, WatchRequest{0xffffffffffc3, 61, Access::write});
}

std::vector<Chunk> chunks_of(std::initializer_list<std::pair<std::uintptr_t, int>> list, HwType t) {
  std::vector<Chunk> out;
  for (auto [addr, len] : list) out.push_back(Chunk{addr, static_cast<std::uint8_t>(len), t});
  return out;
}

TEST(SplitX86, GdbExamples) {
  EXPECT_EQ(split_range(kX86, {0x1003, 13, Access::write}),
            chunks_of({{0x1003, 1}, {0x1004, 4}, {0x1008, 8}}, HwType::write));
  EXPECT_EQ(split_range(kX86, {0x1006, 10, Access::write}),
            chunks_of({{0x1006, 2}, {0x1008, 8}}, HwType::write));
  // 16 unaligned bytes need five chunks: more than one thread's four slots.
  EXPECT_EQ(split_range(kX86, {0x1001, 16, Access::read_write}),
            chunks_of({{0x1001, 1}, {0x1002, 2}, {0x1004, 4}, {0x1008, 8}, {0x1010, 1}},
                      HwType::read_write));
  EXPECT_EQ(chunk_count(kX86, {0x1001, 16, Access::write}), 5u);
  EXPECT_EQ(split_range(kX86, {0x1000, 32, Access::write}),
            chunks_of({{0x1000, 8}, {0x1008, 8}, {0x1010, 8}, {0x1018, 8}}, HwType::write));
  EXPECT_EQ(split_range(kX86, {0x1004, 8, Access::write}),
            chunks_of({{0x1004, 4}, {0x1008, 4}}, HwType::write));
}

TEST(SplitX86, TypesFollowAccess) {
  EXPECT_EQ(split_range(kX86, {0x1000, 4, Access::read}),
            chunks_of({{0x1000, 4}}, HwType::read_write));
  EXPECT_EQ(split_range(kX86, {0x1000, 4, Access::modify}),
            chunks_of({{0x1000, 4}}, HwType::write));
}

TEST(SplitAarch64, OneChunkPerGranule) {
  EXPECT_EQ(split_range(kArm, {0x1003, 13, Access::write}),
            chunks_of({{0x1003, 5}, {0x1008, 8}}, HwType::write));
  EXPECT_EQ(split_range(kArm, {0x1006, 4, Access::read}),
            chunks_of({{0x1006, 2}, {0x1008, 2}}, HwType::read));
  EXPECT_EQ(split_range(kArm, {0x1001, 3, Access::read_write}),
            chunks_of({{0x1001, 3}}, HwType::read_write));
  EXPECT_EQ(split_range(kArm, {0x1007, 18, Access::write}),
            chunks_of({{0x1007, 1}, {0x1008, 8}, {0x1010, 8}, {0x1018, 1}}, HwType::write));
}

TEST(SplitExec, OneChunkWithPerfLength) {
  for (std::size_t len : {std::size_t{1}, std::size_t{8}}) {
    EXPECT_EQ(split_range(kX86, {0x401003, len, Access::exec}),
              chunks_of({{0x401003, 8}}, HwType::exec));
    EXPECT_EQ(chunk_count(kX86, {0x401003, len, Access::exec}), 1u);
  }
  EXPECT_EQ(split_range(kArm, {0x401000, 4, Access::exec}),
            chunks_of({{0x401000, 4}}, HwType::exec));
  EXPECT_EQ(split_range(kArm, {0x401000, 1, Access::exec}),
            chunks_of({{0x401000, 4}}, HwType::exec));
}

}  // namespace
}  // namespace hwbp::core
