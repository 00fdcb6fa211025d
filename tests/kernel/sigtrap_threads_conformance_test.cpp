// Port of the kernel selftest tools/testing/selftests/perf_events/sigtrap_threads.c as a
// conformance test of the library: one process-wide watch whose events are inherited by
// threads created after it, delivered as synchronous SIGTRAPs to the accessing thread.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "hwbp/hwbp.hpp"
#include "test_support.hpp"
#include "support/hit_delivery.hpp"

namespace hwbp::test {
namespace {

constexpr int kThreads = 5;
volatile int iterate_on = 0;  // as in the selftest: a 4-byte int, watched read-write, len 1

struct Ctx {
  std::atomic<int> signal_count{0};
  std::atomic<long> tids_want_signal{0};
  std::atomic<std::uintptr_t> first_addr{0};
  std::atomic<int> wrong_thread{0};
};

Callback counting_callback(Ctx& ctx) {
  return [&ctx](const Hit& hit) {
    if (ctx.signal_count.fetch_add(1) == 0) ctx.first_addr = hit.addr;
    if (hit.tid != gettid_raw()) ctx.wrong_thread++;
    ctx.tids_want_signal -= hit.tid;
  };
}

// Each thread waits on the barrier, reads iterate_on once, then writes it iter-1 times
// (the selftest's test_thread); with iter < 0 it spins reading until the value is 0.
void test_thread(Ctx& ctx, std::atomic<int>& barrier, int threads_total) {
  pid_t tid = gettid_raw();
  barrier.fetch_add(1);
  while (barrier.load() < threads_total) std::this_thread::yield();
  int iter = iterate_on;  // one read: one signal
  if (iter >= 0) {
    ctx.tids_want_signal += static_cast<long>(tid) * iter;
    for (int i = 1; i < iter; ++i) iterate_on = iter;  // iter-1 more signals
  } else {
    while (iterate_on != 0) {
    }
  }
}

struct SelftestRun {
  Ctx ctx;
  std::atomic<int> barrier{0};
  std::vector<std::thread> threads;
  // The threads wait on a barrier that the main thread joins last (after enabling), as in the
  // selftest, where the main thread is one of the barrier's parties.
  void start() {
    for (int i = 0; i < kThreads; ++i)
      threads.emplace_back([this] { test_thread(ctx, barrier, kThreads + 1); });
  }
  void release() { barrier.fetch_add(1); }
  void join() {
    for (auto& t : threads) t.join();
  }
};

// The selftest's event: read-write, 1 byte, inherited by later threads, opened disabled.
Watch disabled_rw_watch(volatile int& var, Ctx& ctx) {
  return watch({reinterpret_cast<std::uintptr_t>(&var), 1, Access::read_write, Target::process(),
                counting_callback(ctx), /*enabled=*/false});
}

// What every enabled scenario checks: the expected signals, each thread's share, the address.
void expect_signals(const Ctx& ctx, int expected) {
  EXPECT_EQ(ctx.signal_count.load(), expected);
  EXPECT_EQ(ctx.tids_want_signal.load(), 0);
  EXPECT_EQ(ctx.first_addr.load(), reinterpret_cast<std::uintptr_t>(&iterate_on));
}

TEST(SigtrapThreadsConformance, RemainDisabled) {
  HWBP_REQUIRE_HITS();
  SelftestRun run;
  iterate_on = 1;
  Watch w = disabled_rw_watch(iterate_on, run.ctx);
  run.start();
  run.release();
  run.join();
  EXPECT_EQ(run.ctx.signal_count.load(), 0);
  EXPECT_NE(run.ctx.tids_want_signal.load(), 0);
}

TEST(SigtrapThreadsConformance, EnableEvent) {
  HWBP_REQUIRE_HITS();
  SelftestRun run;
  iterate_on = 1;
  Watch w = disabled_rw_watch(iterate_on, run.ctx);
  run.start();  // threads created after the watch: they carry inherited copies
  w.enable();
  run.release();
  run.join();
  expect_signals(run.ctx, kThreads);
  EXPECT_EQ(run.ctx.wrong_thread.load(), 0);
  iterate_on = 0;  // the parent is covered too
  EXPECT_EQ(run.ctx.signal_count.load(), kThreads + 1);
}

TEST(SigtrapThreadsConformance, ModifyReachesInheritedEvents) {
  HWBP_REQUIRE_HITS();
  // The selftest MODIFYs the parent event; its inherited copies must follow. Here the watch is
  // armed elsewhere first, the threads are created, then it is re-targeted onto iterate_on.
  static volatile int elsewhere = 0;
  SelftestRun run;
  iterate_on = 1;
  Watch w = disabled_rw_watch(elsewhere, run.ctx);
  run.start();
  w.retarget(reinterpret_cast<std::uintptr_t>(&iterate_on), 1);
  w.enable();
  run.release();
  run.join();
  expect_signals(run.ctx, kThreads);
}

TEST(SigtrapThreadsConformance, SignalStress) {
  HWBP_REQUIRE_HITS();
  SelftestRun run;
  iterate_on = 3000;
  Watch w = disabled_rw_watch(iterate_on, run.ctx);
  run.start();
  w.enable();
  run.release();
  run.join();
  expect_signals(run.ctx, kThreads * 3000);
  EXPECT_EQ(run.ctx.wrong_thread.load(), 0);
}

TEST(SigtrapThreadsConformance, SignalStressWithDisable) {
  HWBP_REQUIRE_HITS();
  constexpr int kTarget = kThreads * 3000;
  SelftestRun run;
  iterate_on = -1;
  Watch w = disabled_rw_watch(iterate_on, run.ctx);
  run.start();
  run.release();
  while (run.ctx.signal_count.load() < kTarget) {
    w.disable();
    w.enable();
  }
  w.disable();
  iterate_on = 0;
  run.join();
  EXPECT_GE(run.ctx.signal_count.load(), kTarget);
  EXPECT_EQ(run.ctx.wrong_thread.load(), 0);
  EXPECT_EQ(run.ctx.first_addr.load(), reinterpret_cast<std::uintptr_t>(&iterate_on));
}

}  // namespace
}  // namespace hwbp::test
