// What is specific to serving watches by more than one mechanism, through the public API:
// the issue-15 torture case on page protection, execute breakpoints beyond the four debug
// registers (uprobes), the automatic choice and its reason, and both engines agreeing hit for
// hit on the same program where both run (the test VM).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "hwbp/hwbp.hpp"
#include "test_support.hpp"

namespace hwbp::test {
namespace {

// 8 threads (created after arming) storing into a page holding one watched 8-byte field and
// unwatched neighbours: hits equal the truth exactly, consecutive hits chain (old == the previous
// new), the neighbours' final values are right. tests/page runs the full size (100,000
// stores per thread) on the engine itself; through the library the same case runs 20,000 per
// thread (every store faults: 320,000 resolutions, minutes under ASan on a loaded 2-CPU machine).
struct alignas(4096) TorturePage {
  std::uint64_t neighbours_before[8];
  std::uint64_t watched;
  std::uint64_t neighbours_after[8];
};

TEST(LibraryEngines, TortureEightThreadsThroughThePublicApi) {
  static TorturePage page;
  constexpr int kThreads = 8, kStores = 20000;
  static std::atomic<std::uint64_t> seen{0}, breaks{0};
  static std::uint64_t last_new = 0;  // page protection serializes the stores and their callbacks
  seen = 0;
  breaks = 0;
  page = TorturePage{};
  WatchOptions o{reinterpret_cast<std::uintptr_t>(&page.watched), 8, Access::write, Target::process(),
                 [](const Hit& h) {
                   if (h.old_value != last_new) breaks.fetch_add(1);
                   last_new = h.new_value;
                   seen.fetch_add(1);
                 }};
  o.engine = Engine::page;
  {
    Watch w = watch(o);
    ASSERT_EQ(w.mechanism(), Mechanism::page_protection);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([t] {
        volatile std::uint64_t* field = &page.watched;
        volatile std::uint64_t* mine = t % 2 ? &page.neighbours_after[t] : &page.neighbours_before[t];
        for (int i = 1; i <= kStores; ++i) {
          *field = (std::uint64_t(t) << 32) | std::uint64_t(i);
          *mine = *mine + 1;
        }
      });
    for (auto& th : threads) th.join();
    EXPECT_EQ(w.hits(), std::uint64_t(kThreads) * kStores);
    EXPECT_DOUBLE_EQ(w.coverage(), 1.0);
  }
  EXPECT_EQ(seen.load(), std::uint64_t(kThreads) * kStores);
  EXPECT_EQ(breaks.load(), 0u) << "the old value of a hit differs from the new value of the hit before";
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(t % 2 ? page.neighbours_after[t] : page.neighbours_before[t], std::uint64_t(kStores)) << t;
  EXPECT_EQ(page.watched & 0xffffffff, std::uint64_t(kStores));
}

// Six functions, each with its own exec watch, called 1..6 times. The debug registers hold four
// per thread: automatic mode serves the rest with uprobes (and all six where the debug registers
// deliver no hits). Exact counts either way.
#define HWBP_EXEC_TARGET(n)                                   \
  __attribute__((noinline)) int exec_target_##n(int x) {      \
    asm volatile("" ::: "memory");                            \
    return x + n;                                             \
  }
HWBP_EXEC_TARGET(1)
HWBP_EXEC_TARGET(2)
HWBP_EXEC_TARGET(3)
HWBP_EXEC_TARGET(4)
HWBP_EXEC_TARGET(5)
HWBP_EXEC_TARGET(6)

TEST(LibraryEngines, SixExecWatchesWithExactCounts) {
  HWBP_REQUIRE_ENGINE(Engine::page, Access::exec);
  using Fn = int (*)(int);
  Fn fns[6] = {exec_target_1, exec_target_2, exec_target_3, exec_target_4, exec_target_5, exec_target_6};
  static std::atomic<int> calls_seen[6];
  std::vector<Watch> watches;
  for (int i = 0; i < 6; ++i) {
    calls_seen[i] = 0;
    static Callback callbacks[6] = {
        [](const Hit&) { calls_seen[0]++; }, [](const Hit&) { calls_seen[1]++; },
        [](const Hit&) { calls_seen[2]++; }, [](const Hit&) { calls_seen[3]++; },
        [](const Hit&) { calls_seen[4]++; }, [](const Hit&) { calls_seen[5]++; }};
    watches.push_back(watch({reinterpret_cast<std::uintptr_t>(fns[i]), 1, Access::exec,
                             Target::this_thread(), callbacks[i]}));
  }
  int uprobes = 0;
  for (const Watch& w : watches) uprobes += w.mechanism() == Mechanism::uprobe;
  if (perf::hits_delivered()) {
    EXPECT_GE(uprobes, 2) << "four debug-register slots per thread: the rest are uprobes";
  } else {
    EXPECT_EQ(uprobes, 6) << "no debug-register hits here: every exec watch is a uprobe";
  }
  for (const Watch& w : watches) {
    if (w.mechanism() == Mechanism::uprobe) {
      EXPECT_NE(std::string(w.mechanism_reason()), "requested") << w.describe();
    }
  }
  volatile Fn call;
  for (int i = 0; i < 6; ++i)
    for (int k = 0; k <= i; ++k) {
      call = fns[i];
      call(k);
    }
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(watches[i].hits(), std::uint64_t(i + 1)) << "exec watch " << i << ": " << watches[i].describe();
    EXPECT_EQ(calls_seen[i].load(), i + 1) << i;
  }
}

TEST(LibraryEngines, AutomaticModeSaysWhichMechanismAndWhy) {
  alignas(8) static volatile std::uint64_t var = 0;
  Watch w = watch(var, Access::modify);
  if (perf::hits_delivered()) {
    EXPECT_EQ(w.mechanism(), Mechanism::debug_registers);
    EXPECT_EQ(w.describe(), "debug registers (fits the free debug-register slots)");
  } else {
    EXPECT_EQ(w.mechanism(), Mechanism::page_protection);
    EXPECT_EQ(w.describe(), "page protection (debug exceptions are not delivered here)");
  }
  var = 1;
  EXPECT_EQ(w.hits(), 1u);
}

TEST(LibraryEngines, HardwareRequestIsRefusedWhereHitsAreNotDelivered) {
  if (perf::hits_delivered()) GTEST_SKIP() << "debug-register hits are delivered here";
  alignas(8) static volatile std::uint64_t var = 0;
  try {
    Watch w = watch(hw({reinterpret_cast<std::uintptr_t>(&var), 8, Access::write}));
    FAIL() << "a hardware watch was armed where it cannot fire";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::unsupported);
    EXPECT_NE(std::string(e.what()).find("not delivered"), std::string::npos) << e.what();
  }
}

// Where both engines run (the test VM), the same stores give the same hits: tid, address,
// old and new value, the resume address.
struct Recorded {
  HitLog log;
};

void store_sequence(volatile std::uint64_t* var) {
  const std::uint64_t values[] = {5, 5, 0x1122334455667788ull, 0, 0, ~0ull, 42, 43, 43};
  for (std::uint64_t v : values) *var = v;
  std::thread other([var] { *var = 7; *var = 7; *var = 8; });
  other.join();
}

TEST(LibraryEngines, BothEnginesAgreeHitForHit) {
  HWBP_REQUIRE_HITS();
  alignas(8) static volatile std::uint64_t var = 0;
  for (Access access : {Access::write, Access::modify}) {
    Recorded by[2];
    for (int e = 0; e < 2; ++e) {
      var = 1;
      WatchOptions o{reinterpret_cast<std::uintptr_t>(&var), 8, access, Target::process(), by[e].log.callback()};
      o.engine = e == 0 ? Engine::hardware : Engine::page;
      Watch w = watch(o);
      store_sequence(&var);
    }
    const HitLog& hw_log = by[0].log;
    const HitLog& page_log = by[1].log;
    ASSERT_EQ(hw_log.size(), page_log.size()) << to_string(access);
    ASSERT_GT(hw_log.size(), 0);
    for (int i = 0; i < hw_log.size(); ++i) {
      const auto &a = hw_log.entries[i], &b = page_log.entries[i];
      EXPECT_EQ(a.addr, b.addr) << i;
      EXPECT_EQ(a.old_value, b.old_value) << i;
      EXPECT_EQ(a.new_value, b.new_value) << i;
      EXPECT_EQ(a.ip, b.ip) << "both report the instruction after the store, hit " << i;
      EXPECT_EQ(a.mechanism, Mechanism::debug_registers);
      EXPECT_EQ(b.mechanism, Mechanism::page_protection);
    }
  }
}

}  // namespace
}  // namespace hwbp::test
