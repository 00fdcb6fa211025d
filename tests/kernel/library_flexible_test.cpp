// More watches than slots: flexible watches take turns on the slots pinned watches leave free,
// moved in place by the modify ioctl; hits while armed stay exact and coverage says how often
// each watch was armed.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "hwbp/hwbp.hpp"
#include "test_support.hpp"
#include "support/hit_delivery.hpp"

namespace hwbp::test {
namespace {

using namespace std::chrono_literals;

alignas(64) volatile std::uint64_t g_vars[8];

struct ExactLog {
  std::atomic<int> hits{0};
  std::atomic<int> inexact{0};  // values reported as known but wrong: must never happen
  std::atomic<int> unknown{0};  // old value reported as unknown (a write raced the arming)
  std::atomic<std::uint64_t> bad_old{0}, bad_new{0};
};

Callback exact_checker(ExactLog& log) {
  // Every write increments the variable by one, so an exact hit always shows new == old + 1,
  // even right after the watch was (re)armed on its turn. A write that lands between reading
  // the shadow and arming cannot be seen; the library then says "old unknown" for the next
  // hit rather than report a wrong old value.
  return [&log](const Hit& h) {
    log.hits++;
    if (!h.old_known)
      log.unknown++;
    else if (h.new_value != h.old_value + 1) {
      log.inexact++;
      log.bad_old = h.old_value;
      log.bad_new = h.new_value;
    }
  };
}

void write_all_for(std::chrono::milliseconds duration, int count) {
  auto end = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < end)
    for (int i = 0; i < count; ++i) g_vars[i] = g_vars[i] + 1;
}

TEST(LibraryFlexible, SixWatchesRotateOnFourSlotsWithExactHitsAndCoverage) {
  HWBP_REQUIRE_HITS();
  ASSERT_EQ(slots_per_thread(), 4u) << "this test assumes the x86 budget of 4 slots";
  set_rotation_interval(2ms);
  int fds_before = open_fd_count();
  std::vector<ExactLog> logs(6);
  std::vector<Watch> watches;
  for (int i = 0; i < 6; ++i) {
    WatchOptions o{reinterpret_cast<std::uintptr_t>(&g_vars[i]), 8, Access::write,
                   Target::this_thread(), exact_checker(logs[i])};
    o.flexible = true;
    watches.push_back(watch(o));
  }
  write_all_for(300ms, 6);
  for (int i = 0; i < 6; ++i) {
    double cov = watches[i].coverage();
    EXPECT_GT(logs[i].hits.load(), 0) << "watch " << i << " never got a turn";
    EXPECT_EQ(logs[i].inexact.load(), 0) << "watch " << i << " reported wrong values, e.g. "
                                          << logs[i].bad_old << " -> " << logs[i].bad_new;
    EXPECT_LT(logs[i].unknown.load(), logs[i].hits.load() / 2 + 1) << "watch " << i;
    EXPECT_GT(cov, 0.3) << "watch " << i;
    EXPECT_LT(cov, 0.95) << "watch " << i << ": six watches cannot all be armed on four slots";
    EXPECT_EQ(watches[i].hits(), static_cast<std::uint64_t>(logs[i].hits.load()));
  }
  watches.clear();
  EXPECT_EQ(open_fd_count(), fds_before) << "the rotation slots were not closed";
  EXPECT_FALSE(active());
}

TEST(LibraryFlexible, PinnedWatchesNeverRotate) {
  HWBP_REQUIRE_HITS();
  set_rotation_interval(2ms);
  ExactLog pinned_log;
  std::vector<ExactLog> flex_logs(3);
  Watch p0 = watch({reinterpret_cast<std::uintptr_t>(&g_vars[0]), 8, Access::write,
                    Target::this_thread(), exact_checker(pinned_log)});
  Watch p1 = watch(g_vars[1], Access::write, {}, Target::this_thread());
  std::vector<Watch> flex;
  for (int i = 0; i < 3; ++i) {
    WatchOptions o{reinterpret_cast<std::uintptr_t>(&g_vars[2 + i]), 8, Access::write,
                   Target::this_thread(), exact_checker(flex_logs[i])};
    o.flexible = true;
    flex.push_back(watch(o));
  }
  std::uint64_t before0 = g_vars[0], before1 = g_vars[1];
  write_all_for(200ms, 5);
  EXPECT_EQ(static_cast<std::uint64_t>(pinned_log.hits.load()), g_vars[0] - before0)
      << "a pinned watch missed writes";
  EXPECT_EQ(p1.hits(), g_vars[1] - before1);
  EXPECT_GT(p0.coverage(), 0.99);
  for (int i = 0; i < 3; ++i) {
    EXPECT_GT(flex_logs[i].hits.load(), 0);
    EXPECT_EQ(flex_logs[i].inexact.load(), 0);
    EXPECT_LT(flex[i].coverage(), 0.95);
  }
}

TEST(LibraryFlexible, PinnedWatchTakesASlotBackFromTheRotation) {
  HWBP_REQUIRE_HITS();
  std::vector<Watch> flex;
  for (int i = 0; i < 4; ++i) {
    WatchOptions o{reinterpret_cast<std::uintptr_t>(&g_vars[i]), 8, Access::write,
                   Target::this_thread(), [](const Hit&) {}};
    o.flexible = true;
    flex.push_back(watch(o));
  }
  // All four fit: nothing rotates yet.
  write_all_for(20ms, 4);
  for (auto& w : flex) EXPECT_GT(w.coverage(), 0.9);
  Watch pinned = watch(g_vars[5], Access::write, {}, Target::this_thread());
  std::uint64_t before = g_vars[5];
  for (int i = 0; i < 10; ++i) g_vars[5] = g_vars[5] + 1;
  EXPECT_EQ(pinned.hits(), g_vars[5] - before);
}

TEST(LibraryFlexible, WatchLargerThanTheRotationIsRefused) {
  HWBP_REQUIRE_HITS();  // flexible watches rotate over the debug registers only
  Watch a = watch(hw({reinterpret_cast<std::uintptr_t>(&g_vars[0]), 24, Access::write,
                      Target::this_thread(), {}}));  // 3 pinned slots
  WatchOptions o{reinterpret_cast<std::uintptr_t>(&g_vars[4]), 16, Access::write,
                 Target::this_thread(), [](const Hit&) {}};
  o.flexible = true;
  try {
    Watch w = watch(o);
    FAIL() << "a flexible watch needing 2 slots at once fit in 1";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::no_slots);
    EXPECT_NE(std::string(e.what()).find("needs 2 slots at once"), std::string::npos) << e.what();
  }
}

TEST(LibraryFlexible, RefusedWhereDebugExceptionsAreNotDelivered) {
  if (perf::hits_delivered()) GTEST_SKIP() << "debug-register hits are delivered here: flexible watches rotate";
  WatchOptions o{reinterpret_cast<std::uintptr_t>(&g_vars[0]), 8, Access::write, Target::this_thread(), {}};
  o.flexible = true;
  try {
    Watch w = watch(o);
    FAIL() << "a flexible watch was armed where the debug registers deliver no hits";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::unsupported);
    EXPECT_NE(std::string(e.what()).find("flexible"), std::string::npos) << e.what();
  }
}

TEST(LibraryFlexible, ProcessWideFlexibleWatchesCoverOtherThreads) {
  HWBP_REQUIRE_HITS();
  set_rotation_interval(2ms);
  std::vector<ExactLog> logs(5);
  std::vector<Watch> flex;
  for (int i = 0; i < 5; ++i) {
    WatchOptions o{reinterpret_cast<std::uintptr_t>(&g_vars[i]), 8, Access::write,
                   Target::process(), exact_checker(logs[i])};
    o.flexible = true;
    flex.push_back(watch(o));
  }
  std::thread worker([] { write_all_for(200ms, 5); });
  worker.join();
  for (int i = 0; i < 5; ++i) {
    EXPECT_GT(logs[i].hits.load(), 0) << "watch " << i;
    EXPECT_EQ(logs[i].inexact.load(), 0) << "watch " << i;
  }
}

}  // namespace
}  // namespace hwbp::test
