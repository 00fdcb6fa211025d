// Cost of the library against the raw kernel mechanisms it wraps, measured in the same run:
//  - a hit delivered to a library callback vs a raw sigtrap hit (own minimal handler, no
//    library) vs a raw counted hit (no signal at all);
//  - arm+remove, enable+disable and re-target vs the raw syscalls;
//  - the active() hot-path check.
#include <benchmark/benchmark.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "hwbp/hwbp.hpp"
#include "ratio.hpp"

extern "C" int __sigaction(int, const struct sigaction*, struct sigaction*);

namespace {

alignas(64) volatile std::uint64_t g_var = 0;
alignas(64) volatile std::uint64_t g_other = 0;
std::atomic<std::uint64_t> g_raw_signals{0};

// These ratios compare the library with the raw breakpoint syscalls: the watches are pinned to
// the debug registers, which the library refuses where debug exceptions are not delivered (the
// benchmark then skips, saying so; run it in the test VM: README "Benchmarks").
bool hw_watch(benchmark::State& state, hwbp::Watch& out, volatile std::uint64_t& var, hwbp::Access access,
              hwbp::Callback callback) {
  try {
    out = hwbp::watch({.addr = reinterpret_cast<std::uintptr_t>(&var),
                       .len = sizeof var,
                       .access = access,
                       .target = hwbp::Target::this_thread(),
                       .callback = std::move(callback),
                       .engine = hwbp::Engine::hardware});
    return true;
  } catch (const hwbp::Error& e) {
    state.SkipWithError(e.what());
    return false;
  }
}

perf_event_attr bp_attr(std::uintptr_t addr, bool sigtrap) {
  perf_event_attr a{};
  a.type = PERF_TYPE_BREAKPOINT;
  a.size = sizeof a;
  a.bp_type = HW_BREAKPOINT_W;
  a.bp_addr = addr;
  a.bp_len = 8;
  a.sample_period = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  a.remove_on_exec = 1;
  a.sigtrap = sigtrap ? 1 : 0;
  return a;
}

int open_bp(perf_event_attr& a) {
  return static_cast<int>(syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
}

void write_loop(benchmark::State& state) {
  std::uint64_t i = 0;
  for (auto _ : state) g_var = ++i;
}

void BM_RawCountedHit(benchmark::State& state) {
  perf_event_attr a = bp_attr(reinterpret_cast<std::uintptr_t>(&g_var), false);
  int fd = open_bp(a);
  if (fd < 0) return state.SkipWithError("perf_event_open failed");
  write_loop(state);
  close(fd);
}
BENCHMARK(BM_RawCountedHit);

void raw_handler(int, siginfo_t*, void*) { g_raw_signals.fetch_add(1, std::memory_order_relaxed); }

void BM_RawSigtrapHit(benchmark::State& state) {
  // Installed with glibc's own __sigaction, bypassing the library's SIGTRAP virtualisation, so
  // this is the kernel path with no library code at all.
  struct sigaction act {}, old {};
  act.sa_sigaction = raw_handler;
  act.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
  __sigaction(SIGTRAP, &act, &old);
  perf_event_attr a = bp_attr(reinterpret_cast<std::uintptr_t>(&g_var), true);
  int fd = open_bp(a);
  if (fd < 0) {
    __sigaction(SIGTRAP, &old, nullptr);
    return state.SkipWithError("perf_event_open(sigtrap) failed");
  }
  write_loop(state);
  close(fd);
  __sigaction(SIGTRAP, &old, nullptr);
}
BENCHMARK(BM_RawSigtrapHit);

void BM_LibraryHit(benchmark::State& state) {
  static std::atomic<std::uint64_t> delivered{0};
  hwbp::Watch w;
  if (!hw_watch(state, w, g_var, hwbp::Access::write,
                [](const hwbp::Hit&) { delivered.fetch_add(1, std::memory_order_relaxed); }))
    return;
  write_loop(state);
}
BENCHMARK(BM_LibraryHit);

void BM_LibraryModifyHit(benchmark::State& state) {
  hwbp::Watch w;
  if (!hw_watch(state, w, g_var, hwbp::Access::modify, [](const hwbp::Hit&) {})) return;
  write_loop(state);
}
BENCHMARK(BM_LibraryModifyHit);

void BM_LibraryCountedHit(benchmark::State& state) {
  hwbp::Watch w;
  if (!hw_watch(state, w, g_var, hwbp::Access::write, {})) return;
  write_loop(state);
}
BENCHMARK(BM_LibraryCountedHit);

void BM_RawModifyIoctl(benchmark::State& state) {
  perf_event_attr a = bp_attr(reinterpret_cast<std::uintptr_t>(&g_var), true);
  int fd = open_bp(a);
  if (fd < 0) return state.SkipWithError("perf_event_open failed");
  perf_event_attr attrs[2] = {a, a};
  attrs[1].bp_addr = reinterpret_cast<std::uintptr_t>(&g_other);
  int k = 0;
  for (auto _ : state) {
    k ^= 1;
    if (ioctl(fd, PERF_EVENT_IOC_MODIFY_ATTRIBUTES, &attrs[k]) != 0) state.SkipWithError("modify failed");
  }
  close(fd);
}
BENCHMARK(BM_RawModifyIoctl);

// Moves a watch back and forth between two variables.
void retarget_loop(benchmark::State& state, hwbp::Access access) {
  hwbp::Watch w;
  if (!hw_watch(state, w, g_var, access, [](const hwbp::Hit&) {})) return;
  const std::uintptr_t addrs[2] = {reinterpret_cast<std::uintptr_t>(&g_var),
                                   reinterpret_cast<std::uintptr_t>(&g_other)};
  int k = 0;
  for (auto _ : state) {
    k ^= 1;
    w.retarget(addrs[k]);
  }
}

void BM_LibraryRetarget(benchmark::State& state) { retarget_loop(state, hwbp::Access::write); }
BENCHMARK(BM_LibraryRetarget);

// A watch that reports no values (read_write) needs no shadow read when it moves.
void BM_LibraryRetargetNoValues(benchmark::State& state) {
  retarget_loop(state, hwbp::Access::read_write);
}
BENCHMARK(BM_LibraryRetargetNoValues);

void BM_RawOpenClose(benchmark::State& state) {
  perf_event_attr a = bp_attr(reinterpret_cast<std::uintptr_t>(&g_var), true);
  for (auto _ : state) {
    int fd = open_bp(a);
    if (fd < 0) return state.SkipWithError("perf_event_open failed");
    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
    close(fd);
  }
}
BENCHMARK(BM_RawOpenClose);

void BM_LibraryArmRemove(benchmark::State& state) {
  for (auto _ : state) {
    hwbp::Watch w;
    if (!hw_watch(state, w, g_var, hwbp::Access::write, [](const hwbp::Hit&) {})) return;
  }
}
BENCHMARK(BM_LibraryArmRemove);

void BM_RawDisableEnable(benchmark::State& state) {
  perf_event_attr a = bp_attr(reinterpret_cast<std::uintptr_t>(&g_var), true);
  int fd = open_bp(a);
  if (fd < 0) return state.SkipWithError("perf_event_open failed");
  for (auto _ : state) {
    ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
  }
  close(fd);
}
BENCHMARK(BM_RawDisableEnable);

void BM_LibraryDisableEnable(benchmark::State& state) {
  hwbp::Watch w;
  if (!hw_watch(state, w, g_var, hwbp::Access::write, [](const hwbp::Hit&) {})) return;
  for (auto _ : state) {
    w.disable();
    w.enable();
  }
}
BENCHMARK(BM_LibraryDisableEnable);

void BM_RelaxedLoadBaseline(benchmark::State& state) {
  static std::atomic<std::uint64_t> word{0};
  for (auto _ : state) benchmark::DoNotOptimize(word.load(std::memory_order_acquire));
}
BENCHMARK(BM_RelaxedLoadBaseline);

void BM_Active(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(hwbp::active());
}
BENCHMARK(BM_Active);

}  // namespace

HWBP_RATIO("delivered_hit_vs_raw_sigtrap_hit", "BM_LibraryHit", "BM_RawSigtrapHit");
HWBP_RATIO("delivered_hit_vs_raw_counted_hit", "BM_LibraryHit", "BM_RawCountedHit");
HWBP_RATIO("modify_hit_vs_raw_sigtrap_hit", "BM_LibraryModifyHit", "BM_RawSigtrapHit");
HWBP_RATIO("counted_hit_vs_raw_counted_hit", "BM_LibraryCountedHit", "BM_RawCountedHit");
HWBP_RATIO("retarget_vs_raw_modify_ioctl", "BM_LibraryRetarget", "BM_RawModifyIoctl");
HWBP_RATIO("retarget_no_values_vs_raw_modify_ioctl", "BM_LibraryRetargetNoValues", "BM_RawModifyIoctl");
HWBP_RATIO("arm_remove_vs_raw_open_close", "BM_LibraryArmRemove", "BM_RawOpenClose");
HWBP_RATIO("disable_enable_vs_raw_ioctls", "BM_LibraryDisableEnable", "BM_RawDisableEnable");
HWBP_RATIO("active_vs_acquire_load", "BM_Active", "BM_RelaxedLoadBaseline");
