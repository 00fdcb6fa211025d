// Every access kind x every length x aligned / unaligned / straddling ranges, with exact hit
// counts against known access counts, on real debug registers.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "hwbp/hwbp.hpp"
#include "test_support.hpp"
#include "support/hit_delivery.hpp"

namespace hwbp::test {
namespace {

alignas(64) unsigned char g_buffer[64];

struct AccessCase {
  Access access;
  std::size_t offset;  // from a 16-aligned base inside g_buffer
  std::size_t len;
};

std::string case_name(const testing::TestParamInfo<AccessCase>& info) {
  return std::string(to_string(info.param.access) == std::string("rw") ? "rw" : to_string(info.param.access)) +
         "_off" + std::to_string(info.param.offset) + "_len" + std::to_string(info.param.len);
}

class LibraryAccess : public testing::TestWithParam<AccessCase> {};

// Expected hits for one access pattern under each access kind (x86 semantics).
struct Expect {
  int changing_writes, same_value_writes, reads;
};

int expected_hits(Access a, const Expect& e) {
  switch (a) {
    case Access::write: return e.changing_writes + e.same_value_writes;
    case Access::modify: return e.changing_writes;
    case Access::read_write: return e.changing_writes + e.same_value_writes + e.reads;
    // x86 read emulation: accesses that left the bytes unchanged, so same-value writes count
    // as reads (the documented blind spot).
    case Access::read: return e.reads + e.same_value_writes;
    default: return 0;
  }
}

TEST_P(LibraryAccess, ExactHitCountsInsideAndNoneOutside) {
  HWBP_REQUIRE_HITS();
  const AccessCase& c = GetParam();
  unsigned char* base = g_buffer + 16;
  std::memset(g_buffer, 0, sizeof g_buffer);
  HitLog log;
  Watch w = watch({reinterpret_cast<std::uintptr_t>(base + c.offset), c.len, c.access,
                   Target::this_thread(), log.callback()});
  std::size_t slots = w.chunks().size();
  ASSERT_LE(slots, slots_per_thread());

  // Bytes just outside the range: writes and reads there must never hit.
  store<unsigned char>(base + c.offset - 1, 0x55);
  store<unsigned char>(base + c.offset + c.len, 0x55);
  (void)load<unsigned char>(base + c.offset - 1);
  (void)load<unsigned char>(base + c.offset + c.len);
  EXPECT_EQ(w.hits(), 0u) << "an access outside the watched bytes was reported";

  Expect e{0, 0, 0};
  for (std::size_t i = 0; i < c.len; ++i) {  // one changing write per byte
    store<unsigned char>(base + c.offset + i, static_cast<unsigned char>(i + 1));
    ++e.changing_writes;
  }
  for (std::size_t i = 0; i < c.len; ++i) {  // one read per byte
    (void)load<unsigned char>(base + c.offset + i);
    ++e.reads;
  }
  store<unsigned char>(base + c.offset, 1);  // same value as before
  ++e.same_value_writes;

  EXPECT_EQ(w.hits(), static_cast<std::uint64_t>(expected_hits(c.access, e)))
      << "access " << to_string(c.access) << " offset " << c.offset << " len " << c.len;
  if (c.access == Access::modify) {
    ASSERT_EQ(log.size(), static_cast<int>(c.len));
    for (int i = 0; i < log.size(); ++i) {
      const auto& h = log.entries[i];
      EXPECT_TRUE(h.has_values);
      EXPECT_EQ(h.tid, gettid_raw());
      EXPECT_NE(h.old_value, h.new_value);
    }
  }
}

std::vector<AccessCase> all_cases() {
  std::vector<AccessCase> out;
  for (Access a : {Access::write, Access::modify, Access::read_write, Access::read}) {
    for (std::size_t len : {1u, 2u, 4u, 8u}) out.push_back({a, 0, len});  // aligned
    out.push_back({a, 1, 4});   // unaligned: 1 + 2 + 1
    out.push_back({a, 3, 8});   // unaligned: 1 + 4 + 2 + 1
    out.push_back({a, 6, 4});   // straddles an 8-byte boundary: 2 + 2
    out.push_back({a, 4, 12});  // longer range: 4 + 8
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllKinds, LibraryAccess, testing::ValuesIn(all_cases()), case_name);

__attribute__((noinline)) int exec_target(int x) {
  asm volatile("" ::: "memory");
  return x + 1;
}

TEST(LibraryAccessExec, CountsEveryCall) {
  HWBP_REQUIRE_HITS();
  HitLog log;
  auto fn = reinterpret_cast<std::uintptr_t>(&exec_target);
  Watch w = watch({fn, 1, Access::exec, Target::this_thread(), log.callback()});
  int (*volatile call)(int) = exec_target;
  for (int i = 0; i < 7; ++i) call(i);
  EXPECT_EQ(w.hits(), 7u);
  ASSERT_EQ(log.size(), 7);
  EXPECT_EQ(log.entries[0].ip, fn) << "an exec hit is a fault: the IP is the breakpoint address";
  EXPECT_FALSE(log.entries[0].has_values);
}

TEST(LibraryAccessExec, CountingModeUsesKernelCounts) {
  HWBP_REQUIRE_HITS();
  auto fn = reinterpret_cast<std::uintptr_t>(&exec_target);
  Watch w = watch({fn, 1, Access::exec, Target::this_thread(), {}});
  int (*volatile call)(int) = exec_target;
  for (int i = 0; i < 5; ++i) call(i);
  EXPECT_EQ(w.hits(), 5u);
}

TEST(LibraryValues, OldAndNewAreExactForEveryWrite) {
  HWBP_REQUIRE_HITS();
  alignas(8) static volatile std::uint64_t var = 7;
  HitLog log;
  Watch w = watch(var, Access::write, log.callback(), Target::this_thread());
  const std::uint64_t values[] = {7, 0x1122334455667788ull, 0, 0, ~0ull, 42};
  for (std::uint64_t v : values) var = v;
  ASSERT_EQ(log.size(), 6);
  std::uint64_t previous = 7;
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(log.entries[i].old_value, previous) << "hit " << i;
    EXPECT_EQ(log.entries[i].new_value, values[i]) << "hit " << i;
    EXPECT_TRUE(log.entries[i].old_known);
    EXPECT_EQ(log.entries[i].addr, reinterpret_cast<std::uintptr_t>(&var));
    previous = values[i];
  }
}

TEST(LibraryValues, ModifySkipsSameValueWritesAndCountsOnlyChanges) {
  HWBP_REQUIRE_HITS();
  alignas(8) static volatile std::uint32_t var = 1;
  Watch w = watch(var, Access::modify, [](const Hit&) {}, Target::this_thread());
  for (int i = 0; i < 10; ++i) var = 1;  // no change
  for (int i = 0; i < 10; ++i) var = static_cast<std::uint32_t>(i + 2);
  EXPECT_EQ(w.hits(), 10u);
}

TEST(LibraryValues, DisabledWatchReportsNothingAndResumesWithFreshShadow) {
  HWBP_REQUIRE_HITS();
  alignas(8) static volatile std::uint64_t var = 1;
  HitLog log;
  Watch w = watch(var, Access::modify, log.callback(), Target::this_thread());
  w.disable();
  EXPECT_FALSE(w.enabled());
  var = 2;
  var = 3;
  EXPECT_EQ(w.hits(), 0u);
  w.enable();
  var = 4;
  ASSERT_EQ(log.size(), 1);
  EXPECT_EQ(log.entries[0].old_value, 3u) << "the shadow is refreshed on enable";
  EXPECT_EQ(log.entries[0].new_value, 4u);
}

}  // namespace
}  // namespace hwbp::test
