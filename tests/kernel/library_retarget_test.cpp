// Re-targeting a live watch: in place through the modify ioctl when the watch owns its slots,
// by re-arming otherwise; a failed re-target leaves the watch as it was. Page protection re-arms
// on the new pages before it lets go of the old ones. On both engines.
#include <gtest/gtest.h>

#include "hwbp/hwbp.hpp"
#include "test_support.hpp"
#include "support/hit_delivery.hpp"

namespace hwbp::test {
namespace {

alignas(64) volatile std::uint64_t g_a = 1, g_b = 100, g_c = 1000;
alignas(64) volatile unsigned char g_bytes[64];

class LibraryRetarget : public EngineTest {};
INSTANTIATE_TEST_SUITE_P(Engines, LibraryRetarget, HWBP_ENGINES);

TEST_P(LibraryRetarget, MovesTheWatchAndItsValueShadow) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  g_a = 1;
  g_b = 100;
  HitLog log;
  Watch w = watch_var(g_a, Access::modify, log.callback(), Target::this_thread());
  int slot_before = engine() == Engine::hardware ? w.chunks()[0].slot : -1;
  w.retarget(reinterpret_cast<std::uintptr_t>(&g_b));
  if (engine() == Engine::hardware) {
    EXPECT_EQ(w.chunks()[0].slot, slot_before) << "an unshared watch moves in place";
  }
  g_a = 2;  // old address: no longer watched
  EXPECT_EQ(w.hits(), 0u);
  g_b = 101;
  ASSERT_EQ(log.size(), 1);
  EXPECT_EQ(log.entries[0].old_value, 100u) << "the shadow was re-read at the new address";
  EXPECT_EQ(log.entries[0].new_value, 101u);
  EXPECT_EQ(log.entries[0].addr, reinterpret_cast<std::uintptr_t>(&g_b));
}

TEST_P(LibraryRetarget, ProcessWideWatchMovesOnEveryThread) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  g_c = 1000;
  HitLog log;
  Watch w = watch_var(g_a, Access::write, log.callback());
  std::atomic<int> phase{0};
  std::thread t([&] {
    while (phase.load() != 1) std::this_thread::yield();
    g_a = 3;
    g_c = 1001;
    phase = 2;
  });
  w.retarget(reinterpret_cast<std::uintptr_t>(&g_c));
  phase = 1;
  while (phase.load() != 2) std::this_thread::yield();
  t.join();
  ASSERT_EQ(log.size(), 1);
  EXPECT_EQ(log.entries[0].new_value, 1001u);
}

TEST_P(LibraryRetarget, SharedWatchIsReArmedWithoutMovingTheOtherWatch) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  Watch a = watch_var(g_a, Access::write, [](const Hit&) {}, Target::this_thread());
  Watch b = watch_var(g_a, Access::write, [](const Hit&) {}, Target::this_thread());
  b.retarget(reinterpret_cast<std::uintptr_t>(&g_b));
  if (engine() == Engine::hardware) {
    EXPECT_NE(a.chunks()[0].slot, b.chunks()[0].slot);
  }
  g_a = 7;
  g_b = 7;
  EXPECT_EQ(a.hits(), 1u);
  EXPECT_EQ(b.hits(), 1u);
}

TEST_P(LibraryRetarget, ChangesLengthAndChunkCount) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  Watch w = watch(on_engine({reinterpret_cast<std::uintptr_t>(&g_bytes[0]), 8, Access::write,
                              Target::this_thread(), [](const Hit&) {}}));
  w.retarget(reinterpret_cast<std::uintptr_t>(&g_bytes[18]), 10);  // 2 + 4 + 4
  if (engine() == Engine::hardware) {
    std::size_t covered = 0;
    for (const ChunkInfo& c : w.chunks()) covered += c.len;
    EXPECT_EQ(covered, 10u);
    EXPECT_EQ(w.chunks().size(), 3u);
  }
  g_bytes[17] = 1;
  g_bytes[28] = 1;
  EXPECT_EQ(w.hits(), 0u);
  g_bytes[18] = 1;
  g_bytes[27] = 1;
  EXPECT_EQ(w.hits(), 2u);
}

TEST_P(LibraryRetarget, FailedRetargetLeavesTheWatchUnchanged) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  Watch w = watch_var(g_a, Access::write, [](const Hit&) {}, Target::this_thread());
  EXPECT_THROW(w.retarget(0), Error);
  if (engine() == Engine::hardware) {
    // Needs 5 slots: refused, and the watch still watches g_a.
    EXPECT_THROW(w.retarget(reinterpret_cast<std::uintptr_t>(&g_bytes[1]), 33), Error);
  } else {
    // Memory that is not mapped: refused, and the watch still watches g_a.
    EXPECT_THROW(w.retarget(0x10000, 8), Error);
  }
  g_a = 9;
  EXPECT_EQ(w.hits(), 1u);
  if (engine() == Engine::hardware) {
    EXPECT_EQ(w.chunks()[0].addr, reinterpret_cast<std::uintptr_t>(&g_a));
  }
}

}  // namespace
}  // namespace hwbp::test
