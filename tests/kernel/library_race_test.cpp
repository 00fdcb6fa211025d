// Threads racing on the same bytes (issue 17), in-process: four threads store thread-unique
// values into one variable, or lock xadd / xchg / lock add on it, 500 times each. Whatever a
// hit says is exact must be right: a store's new value is its own thread's, an exchange's old
// values are each the counter's value once. Where the value is not provable the hit says so.
// Both engines: the debug registers (skipped where they deliver no hits) and page protection,
// whose hits are exact by construction and reach the callbacks in the order of the stores (the
// engine completes one store at a time under its lock), so there the values also chain.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "hwbp/hwbp.hpp"
#include "support/hit_delivery.hpp"
#include "test_support.hpp"

namespace hwbp::test {
namespace {

constexpr int kThreads = 4;
constexpr std::uint64_t kOps = 500;
alignas(8) std::uint64_t g_race = 0;
volatile std::uint64_t g_sink = 0;

// Runs `body(index, i)` kOps times on kThreads threads started together; returns tid -> index.
template <class Body>
std::map<pid_t, std::uint64_t> race(Body body) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  std::vector<std::atomic<pid_t>> tids(kThreads);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      tids[t] = gettid_raw();
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      for (std::uint64_t i = 1; i <= kOps; ++i) body(std::uint64_t(t + 1), i);
    });
  while (ready.load() < kThreads) std::this_thread::yield();
  go = true;
  for (auto& th : threads) th.join();
  std::map<pid_t, std::uint64_t> index;
  for (int t = 0; t < kThreads; ++t) index[tids[t].load()] = std::uint64_t(t + 1);
  return index;
}

class LibraryRace : public EngineTest {
 protected:
  // Page protection delivers in store order: each hit's old value is the previous hit's new one,
  // from the initial value to the final one.
  void expect_chain(const HitLog& log, std::uint64_t initial, std::uint64_t final_value) const {
    if (engine() != Engine::page) return;
    std::uint64_t previous = initial;
    for (int i = 0; i < log.size(); ++i) {
      const auto& e = log.entries[i];
      ASSERT_TRUE(e.old_exact && e.new_exact) << "hit " << i;
      ASSERT_EQ(e.old_value, previous) << "hit " << i << " does not continue the hit before";
      previous = e.new_value;
    }
    EXPECT_EQ(previous, final_value);
  }
};

TEST_P(LibraryRace, EachStoreIsCreditedWithItsOwnValue) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  g_race = 0;
  auto log = std::make_unique<HitLog>();
  Watch w = watch_var(g_race, Access::write, log->callback());
  auto index = race([](std::uint64_t t, std::uint64_t i) { store<std::uint64_t>(&g_race, t << 32 | i); });
  ASSERT_EQ(log->size(), kThreads * int(kOps));
  int exact_new = 0;
  for (int i = 0; i < log->size(); ++i) {
    const auto& e = log->entries[i];
    if (!e.new_exact) continue;
    ++exact_new;
    EXPECT_EQ(e.new_value >> 32, index[e.tid]) << "hit " << i << ": thread " << index[e.tid] << " credited with "
                                               << std::hex << e.new_value;
  }
  // A mov states its value: every one is known.
  EXPECT_EQ(exact_new, log->size());
  expect_chain(*log, 0, g_race);
}

TEST_P(LibraryRace, ExchangesStateTheirOldValues) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  g_race = 0;
  auto log = std::make_unique<HitLog>();
  Watch w = watch_var(g_race, Access::write, log->callback());
  // The result is used: lock xadd, whose register holds the old value.
  race([](std::uint64_t, std::uint64_t) { g_sink = __atomic_fetch_add(&g_race, 1, __ATOMIC_SEQ_CST); });
  ASSERT_EQ(log->size(), kThreads * int(kOps));
  std::set<std::uint64_t> olds;
  for (int i = 0; i < log->size(); ++i) {
    const auto& e = log->entries[i];
    if (!e.old_exact) continue;
    EXPECT_TRUE(olds.insert(e.old_value).second) << "old value " << e.old_value << " credited twice";
    EXPECT_LT(e.old_value, kThreads * kOps);
    if (e.new_exact) {
      EXPECT_EQ(e.new_value, e.old_value + 1);
    }
  }
}

TEST_P(LibraryRace, CounterIncrementsAreNeverCreditedTwice) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  g_race = 0;
  auto log = std::make_unique<HitLog>();
  Watch w = watch_var(g_race, Access::write, log->callback());
  race([](std::uint64_t, std::uint64_t) { __atomic_fetch_add(&g_race, 1, __ATOMIC_SEQ_CST); });  // lock add
  ASSERT_EQ(log->size(), kThreads * int(kOps));
  std::set<std::uint64_t> news;
  for (int i = 0; i < log->size(); ++i) {
    const auto& e = log->entries[i];
    if (e.old_exact && e.new_exact) {
      EXPECT_EQ(e.new_value, e.old_value + 1);
    }
    if (e.new_exact) {
      EXPECT_TRUE(news.insert(e.new_value).second) << "counter value " << e.new_value << " credited twice";
    }
  }
  expect_chain(*log, 0, kThreads * kOps);
}

TEST_P(LibraryRace, OneThreadsWatchIsExact) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  g_race = 0;
  auto log = std::make_unique<HitLog>();
  Watch w = watch_var(g_race, Access::write, log->callback(), Target::this_thread());
  for (std::uint64_t i = 1; i <= 100; ++i) __atomic_fetch_add(&g_race, 1, __ATOMIC_SEQ_CST);
  ASSERT_EQ(log->size(), 100);
  for (int i = 0; i < log->size(); ++i) {
    const auto& e = log->entries[i];
    EXPECT_TRUE(e.old_exact && e.new_exact) << "hit " << i;
    EXPECT_EQ(e.old_value, std::uint64_t(i));
    EXPECT_EQ(e.new_value, std::uint64_t(i + 1));
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, LibraryRace, HWBP_ENGINES);

}  // namespace
}  // namespace hwbp::test
