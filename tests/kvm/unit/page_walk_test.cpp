#include "kvm/page_walk.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

namespace hwbp::kvm {
namespace {

// Guest-physical memory as 8-byte words (page tables only).
class FakeMemory : public PhysicalMemory {
 public:
  void set(std::uint64_t gpa, std::uint64_t v) { words_[gpa] = v; }
  void set32(std::uint64_t gpa, std::uint32_t v) { words_[gpa] = v; }
  bool read_physical(std::uint64_t gpa, void* out, std::size_t len) const override {
    if (gpa >= limit_) return false;
    auto it = words_.find(gpa);
    const std::uint64_t v = it == words_.end() ? 0 : it->second;
    std::memcpy(out, &v, len);
    return true;
  }
  std::uint64_t limit_ = 1ull << 32;

 private:
  std::map<std::uint64_t, std::uint64_t> words_;
};

constexpr std::uint64_t P = 0x3, PS = 0x80;
constexpr std::uint64_t kCr0Pg = 0x80000001, kEferLma = 0x500, kCr4Pae = 0x20, kCr4Pse = 0x10,
                        kCr4La57 = 0x1000;

std::uint64_t idx(std::uint64_t va, unsigned shift) { return (va >> shift) & 511; }

TEST(KvmPageWalk, PagingOffIsIdentity) {
  FakeMemory m;
  EXPECT_EQ(walk_page_tables(PagingState{0x11, 0, 0, 0}, 0x1234, m).guest_phys, 0x1234u);
  EXPECT_EQ(walk_page_tables(PagingState{0x11, 0, 0, 0}, 1ull << 32, m).failure, WalkFailure::outside_32bit);
}

TEST(KvmPageWalk, FourLevelWith4KiB2MiB1GiBPages) {
  FakeMemory m;
  const PagingState p{kCr0Pg, 0x1000 | 0x18 /* PCD|PWT in CR3's low bits */, kCr4Pae, kEferLma};
  const std::uint64_t va4k = 0xffffffff81234567;
  m.set(0x1000 + 8 * idx(va4k, 39), 0x2000 | P);
  m.set(0x2000 + 8 * idx(va4k, 30), 0x3000 | P);
  m.set(0x3000 + 8 * idx(va4k, 21), 0x4000 | P);
  m.set(0x4000 + 8 * idx(va4k, 12), 0x8000000000abc000ull | P);  // NX set: not an address bit
  EXPECT_EQ(walk_page_tables(p, va4k, m).guest_phys, 0xabc567u);
  const std::uint64_t va2m = 0x40312345;
  m.set(0x1000 + 8 * idx(va2m, 39), 0x5000 | P);
  m.set(0x5000 + 8 * idx(va2m, 30), 0x6000 | P);
  m.set(0x6000 + 8 * idx(va2m, 21), 0x1e00000 | P | PS | 0x1000 /* PAT */);
  EXPECT_EQ(walk_page_tables(p, va2m, m).guest_phys, 0x1e00000u + (va2m & 0x1fffff));
  const std::uint64_t va1g = 0x7f0012345678;
  m.set(0x1000 + 8 * idx(va1g, 39), 0x7000 | P);
  m.set(0x7000 + 8 * idx(va1g, 30), 0x80000000 | P | PS);
  EXPECT_EQ(walk_page_tables(p, va1g, m).guest_phys, 0x80000000u + (va1g & 0x3fffffff));
}

TEST(KvmPageWalk, NotPresentNonCanonicalUnreadable) {
  FakeMemory m;
  const PagingState p{kCr0Pg, 0x1000, kCr4Pae, kEferLma};
  EXPECT_EQ(walk_page_tables(p, 0x1000, m).failure, WalkFailure::not_present);
  EXPECT_EQ(walk_page_tables(p, 0x0000800000000000, m).failure, WalkFailure::non_canonical);
  m.set(0x1000, 0x200000000000 | P);  // the next table lies beyond readable memory
  EXPECT_EQ(walk_page_tables(p, 0x1000, m).failure, WalkFailure::table_unreadable);
}

TEST(KvmPageWalk, FiveLevel) {
  FakeMemory m;
  const PagingState p{kCr0Pg, 0x1000, kCr4Pae | kCr4La57, kEferLma};
  const std::uint64_t va = 0x00ff123456789000;  // canonical with 57 bits, not with 48
  m.set(0x1000 + 8 * idx(va, 48), 0x2000 | P);
  m.set(0x2000 + 8 * idx(va, 39), 0x3000 | P);
  m.set(0x3000 + 8 * idx(va, 30), 0x4000 | P);
  m.set(0x4000 + 8 * idx(va, 21), 0x5000 | P);
  m.set(0x5000 + 8 * idx(va, 12), 0x99000 | P);
  EXPECT_EQ(walk_page_tables(p, va + 0x12, m).guest_phys, 0x99012u);
}

TEST(KvmPageWalk, Pae) {
  FakeMemory m;
  const PagingState p{kCr0Pg, 0x1020, kCr4Pae, 0};  // the PDPT is 32-byte aligned
  const std::uint64_t va = 0xc0401234;
  m.set(0x1020 + 8 * 3, 0x2000 | 1);
  m.set(0x2000 + 8 * idx(va, 21), 0x3000 | P);
  m.set(0x3000 + 8 * idx(va, 12), 0x77000 | P);
  EXPECT_EQ(walk_page_tables(p, va, m).guest_phys, 0x77234u);
}

TEST(KvmPageWalk, ThirtyTwoBitWithPse36) {
  FakeMemory m;
  const PagingState p{kCr0Pg, 0x1000, kCr4Pse, 0};
  m.set32(0x1000 + 4 * (0x00801234 >> 22), 0x3000 | P);
  m.set32(0x3000 + 4 * ((0x00801234 >> 12) & 0x3ff), 0x55000 | P);
  EXPECT_EQ(walk_page_tables(p, 0x00801234, m).guest_phys, 0x55234u);
  // A 4 MiB page with physical bits 39:32 = 0x12 in PDE bits 20:13.
  m.set32(0x1000 + 4 * (0xc0123456u >> 22), 0x00c00000u | (0x12u << 13) | P | PS);
  EXPECT_EQ(walk_page_tables(p, 0xc0123456, m).guest_phys, 0x1200c00000ull + 0x123456);
}

}  // namespace
}  // namespace hwbp::kvm
