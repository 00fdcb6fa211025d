// Threads racing on the same bytes (issue 17), in-process: 2, 4 and 8 threads store
// thread-unique values into one variable, or lock xadd / xchg / lock add / lock cmpxchg on it,
// 500 times each. Whatever a hit says is exact must be right: a store's new value is its own
// thread's, an exchange's old values are each the counter's value once, an increment's new
// value is its old + 1 and each counter value is credited once. Where the value is not provable
// the hit says so.
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

constexpr int kThreadCounts[] = {2, 4, 8};
constexpr std::uint64_t kOps = 500;
alignas(8) std::uint64_t g_race = 0;
volatile std::uint64_t g_sink = 0;

// Runs `body(index, i)` kOps times on `count` threads started together; returns tid -> index.
template <class Body>
std::map<pid_t, std::uint64_t> race(int count, Body body) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  std::vector<std::atomic<pid_t>> tids(count);
  for (int t = 0; t < count; ++t)
    workers.emplace_back([&, t] {
      tids[t] = gettid_raw();
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      for (std::uint64_t i = 1; i <= kOps; ++i) body(std::uint64_t(t + 1), i);
    });
  while (ready.load() < count) std::this_thread::yield();
  go = true;
  for (auto& th : workers) th.join();
  std::map<pid_t, std::uint64_t> index;
  for (int t = 0; t < count; ++t) index[tids[t].load()] = std::uint64_t(t + 1);
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
  for (int threads : kThreadCounts) {
    SCOPED_TRACE(testing::Message() << threads << " threads");
    g_race = 0;
    auto log = std::make_unique<HitLog>();
    Watch w = watch_var(g_race, Access::write, log->callback());
    auto index = race(threads, [](std::uint64_t t, std::uint64_t i) { store<std::uint64_t>(&g_race, t << 32 | i); });
    ASSERT_EQ(log->size(), threads * int(kOps));
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
}

TEST_P(LibraryRace, ExchangesStateTheirOldValues) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  for (int threads : kThreadCounts) {
    SCOPED_TRACE(testing::Message() << threads << " threads");
    g_race = 0;
    auto log = std::make_unique<HitLog>();
    Watch w = watch_var(g_race, Access::write, log->callback());
    // The result is used: lock xadd, whose register holds the old value.
    race(threads, [](std::uint64_t, std::uint64_t) { g_sink = __atomic_fetch_add(&g_race, 1, __ATOMIC_SEQ_CST); });
    ASSERT_EQ(log->size(), threads * int(kOps));
    std::set<std::uint64_t> olds;
    for (int i = 0; i < log->size(); ++i) {
      const auto& e = log->entries[i];
      if (!e.old_exact) continue;
      EXPECT_TRUE(olds.insert(e.old_value).second) << "old value " << e.old_value << " credited twice";
      EXPECT_LT(e.old_value, threads * kOps);
      if (e.new_exact) {
        EXPECT_EQ(e.new_value, e.old_value + 1);
      }
    }
  }
}

TEST_P(LibraryRace, CounterIncrementsAreNeverCreditedTwice) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  for (int threads : kThreadCounts) {
    SCOPED_TRACE(testing::Message() << threads << " threads");
    g_race = 0;
    auto log = std::make_unique<HitLog>();
    Watch w = watch_var(g_race, Access::write, log->callback());
    race(threads, [](std::uint64_t, std::uint64_t) { __atomic_fetch_add(&g_race, 1, __ATOMIC_SEQ_CST); });  // lock add
    ASSERT_EQ(log->size(), threads * int(kOps));
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
    expect_chain(*log, 0, threads * kOps);
  }
}

TEST_P(LibraryRace, ExchangedValuesAreEachThreadsOwn) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  for (int threads : kThreadCounts) {
    SCOPED_TRACE(testing::Message() << threads << " threads");
    g_race = 0;
    auto log = std::make_unique<HitLog>();
    Watch w = watch_var(g_race, Access::write, log->callback());
    // xchg: its register holds the old value after the exchange, the new one only in memory.
    auto index = race(threads, [](std::uint64_t t, std::uint64_t i) {
      g_sink = __atomic_exchange_n(&g_race, t << 32 | i, __ATOMIC_SEQ_CST);
    });
    ASSERT_EQ(log->size(), threads * int(kOps));
    std::set<std::uint64_t> olds;
    for (int i = 0; i < log->size(); ++i) {
      const auto& e = log->entries[i];
      if (e.new_exact) {
        EXPECT_EQ(e.new_value >> 32, index[e.tid]) << "hit " << i << ": thread " << index[e.tid] << " credited with "
                                                   << std::hex << e.new_value;
      }
      if (!e.old_exact) continue;
      // Every value is stored once: it is the old value of one exchange at most.
      EXPECT_TRUE(olds.insert(e.old_value).second) << "old value " << std::hex << e.old_value << " credited twice";
      const std::uint64_t writer = e.old_value >> 32, op = e.old_value & 0xffffffff;
      EXPECT_TRUE(e.old_value == 0 || (writer >= 1 && writer <= std::uint64_t(threads) && op >= 1 && op <= kOps))
          << "old value " << std::hex << e.old_value << " was never stored";
    }
    expect_chain(*log, 0, g_race);
  }
}

TEST_P(LibraryRace, CompareExchangeIncrementsAreExactOnce) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  constexpr std::uint64_t kIncrements = 100;  // each thread's; failed attempts are hits too
  for (int threads : kThreadCounts) {
    SCOPED_TRACE(testing::Message() << threads << " threads");
    g_race = 0;
    auto log = std::make_unique<HitLog>();
    Watch w = watch_var(g_race, Access::write, log->callback());
    // lock cmpxchg: a failed one writes the old value back (Intel SDM vol. 2, CMPXCHG: "the
    // destination operand is written back if the comparison fails"), a same-value hit.
    race(threads, [](std::uint64_t, std::uint64_t i) {
      if (i > kIncrements) return;
      std::uint64_t old = __atomic_load_n(&g_race, __ATOMIC_RELAXED);
      while (!__atomic_compare_exchange_n(&g_race, &old, old + 1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
      }
    });
    const std::uint64_t total = threads * kIncrements;
    ASSERT_EQ(g_race, total);
    ASSERT_GE(log->size(), int(total));
    ASSERT_LT(log->size(), HitLog::kMax) << "the log is full: hits were not recorded";
    std::set<std::uint64_t> news;
    for (int i = 0; i < log->size(); ++i) {
      const auto& e = log->entries[i];
      if (!e.old_exact || !e.new_exact) continue;
      EXPECT_TRUE(e.new_value == e.old_value + 1 || e.new_value == e.old_value)
          << "hit " << i << ": " << e.old_value << " -> " << e.new_value;
      if (e.new_value == e.old_value) continue;  // a failed attempt
      EXPECT_TRUE(news.insert(e.new_value).second) << "counter value " << e.new_value << " credited twice";
      EXPECT_LE(e.new_value, total);
    }
    expect_chain(*log, 0, total);
  }
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
