// Whole-process coverage: threads that exist before arming, threads created after it, and
// threads created while arming runs; every hit attributed to the thread that made it. On both
// engines (debug registers, page protection).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "hwbp/hwbp.hpp"
#include "test_support.hpp"
#include "support/hit_delivery.hpp"

namespace hwbp::test {
namespace {

alignas(8) volatile std::uint64_t g_shared = 0;

class LibraryThreads : public EngineTest {};
INSTANTIATE_TEST_SUITE_P(Engines, LibraryThreads, HWBP_ENGINES);

struct Worker {
  std::thread thread;
  std::atomic<pid_t> tid{0};
};

TEST_P(LibraryThreads, EightBeforeAndEightAfterArmingAllReportedWithTheirTid) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  constexpr int kThreads = 16;
  HitLog log;
  std::atomic<bool> go{false};
  std::vector<Worker> workers(kThreads);
  auto body = [&](int index) {
    workers[index].tid = gettid_raw();
    while (!go.load()) std::this_thread::yield();
    for (int k = 0; k <= index; ++k) g_shared = (static_cast<std::uint64_t>(index) << 32) | (k + 1);
  };
  for (int i = 0; i < 8; ++i) workers[i].thread = std::thread(body, i);
  for (int i = 0; i < 8; ++i)
    while (workers[i].tid.load() == 0) std::this_thread::yield();
  Watch w = watch_var(g_shared, Access::write, log.callback());
  for (int i = 8; i < kThreads; ++i) workers[i].thread = std::thread(body, i);
  go = true;
  for (auto& wk : workers) wk.thread.join();

  std::map<pid_t, int> per_tid;
  for (int i = 0; i < log.size(); ++i) per_tid[log.entries[i].tid]++;
  for (int i = 0; i < kThreads; ++i)
    EXPECT_EQ(per_tid[workers[i].tid.load()], i + 1)
        << "thread " << i << (i < 8 ? " (created before arming)" : " (created after arming)");
  int expected_total = kThreads * (kThreads + 1) / 2;
  EXPECT_EQ(log.size(), expected_total);
  EXPECT_EQ(w.hits(), static_cast<std::uint64_t>(expected_total));
}

TEST_P(LibraryThreads, ThreadsCreatedWhileArmingAreCovered) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  // A spawner creates threads continuously while the watch is being armed; each thread waits
  // for the watch to be armed, then writes once. Every one of them must be reported once.
  constexpr int kSpawned = 64;
  HitLog log;
  std::atomic<bool> armed{false};
  std::atomic<bool> started{false};
  std::vector<std::thread> spawned;
  std::thread spawner([&] {
    std::vector<std::thread> mine;
    for (int i = 0; i < kSpawned; ++i) {
      mine.emplace_back([&] {
        while (!armed.load()) std::this_thread::yield();
        g_shared = static_cast<std::uint64_t>(gettid_raw());
      });
      started = true;
    }
    for (auto& t : mine) t.join();
  });
  while (!started.load()) std::this_thread::yield();
  Watch w = watch_var(g_shared, Access::write, log.callback());
  armed = true;
  spawner.join();
  EXPECT_EQ(w.hits(), static_cast<std::uint64_t>(kSpawned));
  std::map<pid_t, int> per_tid;
  for (int i = 0; i < log.size(); ++i) per_tid[log.entries[i].tid]++;
  EXPECT_EQ(per_tid.size(), static_cast<std::size_t>(kSpawned));
  for (auto& [tid, n] : per_tid) EXPECT_EQ(n, 1) << "tid " << tid;
}

// Threads come and go all the time (two spawners, each thread short-lived) while watches are
// armed and removed in a loop (issue 12). A thread created during the arming's /proc re-scan
// used to get two copies of an event — its creator's inherited one and the one opened on it —
// so it held one more slot (ENOSPC blaming "another debugger" once the four were full) and
// counted each hit twice. Every arming must now succeed and count each write exactly once.
class ThreadChurn {
 public:
  // Two spawners create threads without pause (at most kLive alive at once); each waits until
  // `open()` (so that threads created while a watch is being armed are among the writers), then
  // writes `target` once and counts it — only while open, so that every counted write happens
  // while the watch is armed.
  explicit ThreadChurn(volatile std::uint64_t& target) : target_(target) {
    for (auto& s : spawners_)
      s = std::thread([this] {
        while (!stop_.load()) {
          if (live_.load() >= kLive) {
            ::usleep(100);
            continue;
          }
          live_.fetch_add(1);
          std::thread([this] { write_once(); }).detach();
          created_.fetch_add(1);
        }
      });
  }
  ~ThreadChurn() {
    stop_ = true;
    for (auto& s : spawners_) s.join();
    while (live_.load() != 0) ::usleep(100);
  }
  void open() { armed_ = true; }
  // Stops the writes and waits for one in progress: returns the writes since the last call.
  std::uint64_t close() {
    armed_ = false;
    while (in_flight_.load() != 0) std::this_thread::yield();
    return writes_.exchange(0);
  }
  std::uint64_t created() const { return created_.load(); }

 private:
  static constexpr int kLive = 16;
  void write_once() {
    while (!armed_.load() && !stop_.load()) ::usleep(50);
    // Announce, then look again: close() either sees this thread in flight or it sees closed.
    in_flight_.fetch_add(1);
    if (armed_.load()) {
      target_ = static_cast<std::uint64_t>(gettid_raw());
      writes_.fetch_add(1);
    }
    in_flight_.fetch_sub(1);
    live_.fetch_sub(1);
  }
  volatile std::uint64_t& target_;
  std::atomic<bool> stop_{false}, armed_{false};
  std::atomic<int> in_flight_{0}, live_{0};
  std::atomic<std::uint64_t> writes_{0}, created_{0};
  std::thread spawners_[2];
};

alignas(64) volatile std::uint64_t g_churn[4];

TEST(LibraryThreadChurn, ArmingAllFourSlotsWhileThreadsComeAndGoNeverRunsOutOfSlots) {
  HWBP_REQUIRE_HITS();  // the hardware engine is refused where debug exceptions are not delivered
  ThreadChurn churn(g_churn[0]);
  churn.open();  // every thread writes at once and exits: creation never pauses
  constexpr int kRounds = 100;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<Watch> ws;
    try {
      for (auto& v : g_churn)
        ws.push_back(watch({.addr = reinterpret_cast<std::uintptr_t>(&v), .len = 8,
                            .access = Access::write, .engine = Engine::hardware}));
    } catch (const Error& e) {
      FAIL() << "round " << round << " of " << kRounds << " (" << churn.created()
             << " threads created so far): " << e.what();
    }
  }
  EXPECT_GT(churn.created(), 0u);
}

TEST(LibraryThreadChurn, ArmingInALoopWhileThreadsComeAndGoCountsEveryWriteOnce) {
  HWBP_REQUIRE_HITS();
  ThreadChurn churn(g_churn[0]);
  constexpr int kRounds = 60;
  std::uint64_t total_writes = 0, total_hits = 0;
  for (int round = 0; round < kRounds; ++round) {
    Watch w = watch({.addr = reinterpret_cast<std::uintptr_t>(&g_churn[0]), .len = 8,
                     .access = Access::write, .engine = Engine::hardware});  // counting mode
    churn.open();
    const std::uint64_t start = churn.created();
    while (churn.created() < start + 8) ::usleep(100);
    const std::uint64_t writes = churn.close();
    const std::uint64_t hits = w.hits();
    EXPECT_EQ(hits, writes) << "round " << round << ": the kernel counted " << hits
                            << " hits for " << writes << " writes (each must count once: a "
                            << "thread with two copies of the event counts it twice, one with "
                            << "none not at all)";
    total_writes += writes;
    total_hits += hits;
  }
  EXPECT_EQ(total_hits, total_writes);
  EXPECT_GT(total_writes, 0u);
}

TEST_P(LibraryThreads, ThisThreadWatchIgnoresOtherThreads) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  HitLog log;
  Watch w = watch_var(g_shared, Access::write, log.callback(), Target::this_thread());
  std::thread other([] { g_shared = 1; });
  other.join();
  EXPECT_EQ(w.hits(), 0u);
  g_shared = 2;
  EXPECT_EQ(w.hits(), 1u);
}

TEST_P(LibraryThreads, GivenThreadWatchCoversOnlyThatThread) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  std::atomic<pid_t> tid{0};
  std::atomic<int> phase{0};
  std::thread target([&] {
    tid = gettid_raw();
    while (phase.load() != 1) std::this_thread::yield();
    g_shared = 11;
    g_shared = 12;
    phase = 2;
  });
  while (tid.load() == 0) std::this_thread::yield();
  HitLog log;
  Watch w = watch_var(g_shared, Access::write, log.callback(), Target::thread(tid.load()));
  g_shared = 10;  // this thread: not covered
  phase = 1;
  while (phase.load() != 2) std::this_thread::yield();
  target.join();
  ASSERT_EQ(log.size(), 2);
  EXPECT_EQ(log.entries[0].tid, tid.load());
  EXPECT_EQ(log.entries[1].new_value, 12u);
}

TEST_P(LibraryThreads, UnknownThreadIsRefusedWithItsOwnError) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  try {
    Watch w = watch_var(g_shared, Access::write, {}, Target::thread(0x3ffffff0));
    FAIL() << "arming on a thread that does not exist succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::no_such_thread) << e.what();
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
}

// Issue 12: a tid of another process was accepted, and a hit then killed that process with
// SIGTRAP (it has no hwbp handler). Refused now, with or without a callback; the process lives.
TEST(LibraryThreads, ThreadOfAnotherProcessIsRefusedAndThatProcessLives) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (;;) pause();
  }
  for (bool with_callback : {true, false}) {
    HitLog log;
    try {
      Watch w = watch(g_shared, Access::write, with_callback ? log.callback() : Callback{},
                      Target::thread(child));
      ADD_FAILURE() << "a watch on thread " << child << " of another process was armed";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_request) << e.what();
      EXPECT_NE(std::string(e.what()).find("is not a thread of this process"), std::string::npos)
          << e.what();
    }
  }
  int status = 0;
  EXPECT_EQ(waitpid(child, &status, WNOHANG), 0) << "the other process died";
  kill(child, SIGKILL);
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

TEST(LibraryThreads, UnknownTargetKindIsRefused) {
  Target t;
  t.kind = static_cast<Target::Kind>(9);
  try {
    Watch w = watch(WatchOptions{.addr = reinterpret_cast<std::uintptr_t>(&g_shared), .len = 8,
                                 .access = Access::write, .target = t});
    FAIL() << "an unknown target kind was armed";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_request);
    EXPECT_NE(std::string(e.what()).find("unknown target kind 9"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hwbp::test
