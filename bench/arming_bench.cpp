// Process-wide arming at scale: one watch on a process with 64 and with 1,000 existing threads,
// through the library (scan /proc/self/task until stable, one inherited event per thread,
// remove) vs one raw perf_event_open + close per thread, in the same run.
#include <benchmark/benchmark.h>
#include <dirent.h>
#include <linux/futex.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "hwbp/hwbp.hpp"
#include "ratio.hpp"

namespace {

alignas(8) volatile std::uint64_t g_watched = 0;

// N parked threads with small stacks, alive for the whole benchmark run.
class ParkedThreads {
 public:
  explicit ParkedThreads(int n) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (int i = 0; i < n; ++i) {
      pthread_t t;
      if (pthread_create(&t, &attr, &park, this) == 0) threads_.push_back(t);
    }
    pthread_attr_destroy(&attr);
    while (started_.load() < static_cast<int>(threads_.size())) sched_yield();
  }
  ~ParkedThreads() {
    stop_.store(1);
    syscall(SYS_futex, &stop_, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
    for (pthread_t t : threads_) pthread_join(t, nullptr);
  }

 private:
  static void* park(void* self_ptr) {
    auto* self = static_cast<ParkedThreads*>(self_ptr);
    self->started_.fetch_add(1);
    while (self->stop_.load() == 0)
      syscall(SYS_futex, &self->stop_, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
    return nullptr;
  }
  std::vector<pthread_t> threads_;
  std::atomic<int> started_{0};
  std::atomic<int> stop_{0};
};

std::vector<pid_t> thread_ids() {
  std::vector<pid_t> out;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
    closedir(d);
  }
  return out;
}

void BM_RawOpenPerThread(benchmark::State& state) {
  ParkedThreads parked(static_cast<int>(state.range(0)));
  perf_event_attr a{};
  a.type = PERF_TYPE_BREAKPOINT;
  a.size = sizeof a;
  a.bp_type = HW_BREAKPOINT_W;
  a.bp_addr = reinterpret_cast<std::uintptr_t>(&g_watched);
  a.bp_len = 8;
  a.sample_period = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  a.inherit = 1;
  a.inherit_thread = 1;
  a.remove_on_exec = 1;
  a.sigtrap = 1;
  std::vector<pid_t> tids = thread_ids();
  std::vector<int> fds(tids.size());
  for (auto _ : state) {
    for (std::size_t i = 0; i < tids.size(); ++i)
      fds[i] = static_cast<int>(syscall(SYS_perf_event_open, &a, tids[i], -1, -1, PERF_FLAG_FD_CLOEXEC));
    for (int fd : fds)
      if (fd >= 0) close(fd);
  }
  state.counters["threads"] = static_cast<double>(tids.size());
}
BENCHMARK(BM_RawOpenPerThread)->Arg(64)->Arg(1000)->Unit(benchmark::kMicrosecond);

void BM_LibraryArmProcess(benchmark::State& state) {
  ParkedThreads parked(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    // The debug registers only (compared with raw breakpoint opens); refused, and skipped, where
    // debug exceptions are not delivered.
    try {
      hwbp::Watch w = hwbp::watch({.addr = reinterpret_cast<std::uintptr_t>(&g_watched),
                                   .len = sizeof g_watched,
                                   .access = hwbp::Access::write,
                                   .callback = [](const hwbp::Hit&) {},
                                   .engine = hwbp::Engine::hardware});
    } catch (const hwbp::Error& e) {
      return state.SkipWithError(e.what());
    }
  }
  state.counters["threads"] = static_cast<double>(thread_ids().size());
}
BENCHMARK(BM_LibraryArmProcess)->Arg(64)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace

HWBP_RATIO("process_arm_64_threads_vs_raw_open", "BM_LibraryArmProcess/64", "BM_RawOpenPerThread/64");
HWBP_RATIO("process_arm_1000_threads_vs_raw_open", "BM_LibraryArmProcess/1000",
           "BM_RawOpenPerThread/1000");
