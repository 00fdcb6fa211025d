// One hit through the library on each mechanism, measured in the same run (issue 15):
//  - a store trapped by page protection vs a hardware (debug-register) hit: at most 10x;
//  - an exec hit through a uprobe vs a hardware exec hit: at most 3x;
//  - a store to an unwatched byte of a protected page vs the same store to an unprotected page
//    (page_bench.cpp measures how it scales with threads).
// The hardware baselines skip where debug exceptions are not delivered (no ratio is printed):
// run `hwbp_bench` in the test VM for those ratios (README, "Benchmarks").
//
// Raw baselines in the same run say how much of each ratio is the kernel's own mechanism and how
// much is hwbp's (own minimal handlers, no library code on the hit path):
//  - a raw hardware store / exec hit (perf breakpoint, sigtrap, an empty handler);
//  - a raw uprobe exec hit (the uprobe PMU, sigtrap, an empty handler): the floor of any
//    uprobe-based execute hit (int3, the kernel's out-of-line single-step, the signal);
//  - a raw trapped store (a store to a read-only page, a handler that lands it through
//    /proc/self/mem and skips the instruction): the floor of the page engine's emulated store.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "hwbp/hwbp.hpp"
#include "paired.hpp"
#include "perf/hit_delivery.hpp"
#include "perf/uprobe.hpp"
#include "ratio.hpp"
#include "raw_signal.hpp"

namespace {

struct alignas(4096) OwnPage {
  volatile std::uint64_t watched;
  volatile std::uint64_t neighbour;
};
OwnPage g_hw_page, g_sw_page, g_plain_page, g_raw_hw_page, g_raw_trap_page;

__attribute__((noinline)) int exec_target(int x) {
  asm volatile("" ::: "memory");
  return x + 1;
}
// A second function for the paired benchmarks, so two probes never share an address.
__attribute__((noinline)) int other_exec_target(int x) {
  asm volatile("" ::: "memory");
  return x + 2;
}

// Arms on the given engine, or skips the benchmark saying why.
bool arm(benchmark::State& state, hwbp::Watch& out, hwbp::WatchOptions o) {
  try {
    out = hwbp::watch(o);
    return true;
  } catch (const hwbp::Error& e) {
    state.SkipWithError(e.what());
    return false;
  }
}

hwbp::WatchOptions store_watch(OwnPage& page, hwbp::Engine engine) {
  return {.addr = reinterpret_cast<std::uintptr_t>(&page.watched),
          .len = 8,
          .access = hwbp::Access::write,
          .target = hwbp::Target::this_thread(),
          .callback = [](const hwbp::Hit& h) { benchmark::DoNotOptimize(h.new_value); },
          .engine = engine};
}

void store_loop(benchmark::State& state, volatile std::uint64_t& target) {
  std::uint64_t i = 0;
  for (auto _ : state) target = ++i;
}

void BM_EngineHardwareStoreHit(benchmark::State& state) {
  hwbp::Watch w;
  if (!arm(state, w, store_watch(g_hw_page, hwbp::Engine::hardware))) return;
  store_loop(state, g_hw_page.watched);
}
BENCHMARK(BM_EngineHardwareStoreHit);

void BM_EnginePageStoreHit(benchmark::State& state) {
  hwbp::Watch w;
  if (!arm(state, w, store_watch(g_sw_page, hwbp::Engine::page))) return;
  store_loop(state, g_sw_page.watched);
}
BENCHMARK(BM_EnginePageStoreHit);

void BM_EnginePageUnwatchedStore(benchmark::State& state) {
  hwbp::Watch w;
  if (!arm(state, w, store_watch(g_sw_page, hwbp::Engine::page))) return;
  store_loop(state, g_sw_page.neighbour);  // same page, not watched: completed, not reported
}
BENCHMARK(BM_EnginePageUnwatchedStore);

void BM_UnprotectedStore(benchmark::State& state) { store_loop(state, g_plain_page.neighbour); }
BENCHMARK(BM_UnprotectedStore);

hwbp::WatchOptions exec_watch(hwbp::Engine engine) {
  return {.addr = reinterpret_cast<std::uintptr_t>(&exec_target),
          .len = 1,
          .access = hwbp::Access::exec,
          .target = hwbp::Target::this_thread(),
          .callback = [](const hwbp::Hit& h) { benchmark::DoNotOptimize(h.pc); },
          .engine = engine};
}

void call_loop(benchmark::State& state) {
  int (*volatile call)(int) = exec_target;
  int x = 0;
  for (auto _ : state) x = call(x);
  benchmark::DoNotOptimize(x);
}

void BM_EngineHardwareExecHit(benchmark::State& state) {
  hwbp::Watch w;
  if (!arm(state, w, exec_watch(hwbp::Engine::hardware))) return;
  call_loop(state);
}
BENCHMARK(BM_EngineHardwareExecHit);

void BM_EngineUprobeExecHit(benchmark::State& state) {
  hwbp::Watch w;
  if (!arm(state, w, exec_watch(hwbp::Engine::page))) return;  // exec on the page engine: a uprobe
  call_loop(state);
}
BENCHMARK(BM_EngineUprobeExecHit);

// ---- raw baselines --------------------------------------------------------------------------

using hwbp::bench::RawHandler;

std::atomic<std::uint64_t> g_raw_traps{0};
void count_trap(int, siginfo_t*, void*) { g_raw_traps.fetch_add(1, std::memory_order_relaxed); }

bool hits_delivered(benchmark::State& state) {
  if (hwbp::perf::hit_delivery().state == hwbp::perf::HitDelivery::State::delivered) return true;
  state.SkipWithError("debug exceptions are not delivered on this machine: no hardware-hit baseline");
  return false;
}

int open_raw(perf_event_attr& a) {
  a.size = sizeof a;
  a.sample_period = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  a.remove_on_exec = 1;  // required with sigtrap
  a.sigtrap = 1;
  return static_cast<int>(syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
}

// The raw write watch on g_raw_hw_page.watched, with sigtrap: the hardware store baseline.
int open_raw_store_watch() {
  perf_event_attr a{};
  a.type = PERF_TYPE_BREAKPOINT;
  a.bp_type = HW_BREAKPOINT_W;
  a.bp_addr = reinterpret_cast<std::uintptr_t>(&g_raw_hw_page.watched);
  a.bp_len = 8;
  return open_raw(a);
}

void BM_RawHardwareStoreHit(benchmark::State& state) {
  if (!hits_delivered(state)) return;
  RawHandler handler(SIGTRAP, count_trap);
  const int fd = open_raw_store_watch();
  if (fd < 0) return state.SkipWithError("perf_event_open(breakpoint, sigtrap) failed");
  store_loop(state, g_raw_hw_page.watched);
  close(fd);
}
BENCHMARK(BM_RawHardwareStoreHit);

void BM_RawHardwareExecHit(benchmark::State& state) {
  if (!hits_delivered(state)) return;
  RawHandler handler(SIGTRAP, count_trap);
  perf_event_attr a{};
  a.type = PERF_TYPE_BREAKPOINT;
  a.bp_type = HW_BREAKPOINT_X;
  a.bp_addr = reinterpret_cast<std::uintptr_t>(&exec_target);
  a.bp_len = sizeof(long);
  const int fd = open_raw(a);
  if (fd < 0) return state.SkipWithError("perf_event_open(exec breakpoint, sigtrap) failed");
  call_loop(state);
  close(fd);
}
BENCHMARK(BM_RawHardwareExecHit);

void BM_RawUprobeExecHit(benchmark::State& state) {
  const auto where = hwbp::perf::file_location(0, reinterpret_cast<std::uintptr_t>(&exec_target));
  const int type = hwbp::perf::uprobe_pmu_type();
  if (!where || type < 0) return state.SkipWithError("no uprobe PMU, or exec_target is in no file");
  RawHandler handler(SIGTRAP, count_trap);
  perf_event_attr a{};
  a.type = static_cast<std::uint32_t>(type);
  a.config1 = reinterpret_cast<std::uintptr_t>(where->path.c_str());  // uprobe_path
  a.config2 = where->offset;                                          // probe_offset
  const int fd = open_raw(a);
  if (fd < 0) return state.SkipWithError("perf_event_open(uprobe, sigtrap) failed (root needed)");
  call_loop(state);
  close(fd);
}
BENCHMARK(BM_RawUprobeExecHit);

// The raw trapped store: `mov %rax, (%rdx)` (48 89 02) into a read-only page; the handler lands
// rax through /proc/self/mem (FOLL_FORCE) and resumes after the 3-byte instruction.
int g_self_mem = -1;
void land_store(int, siginfo_t*, void* context) {
  auto* uc = static_cast<ucontext_t*>(context);
  const std::uint64_t value = static_cast<std::uint64_t>(uc->uc_mcontext.gregs[REG_RAX]);
  pwrite(g_self_mem, &value, sizeof value, static_cast<off_t>(uc->uc_mcontext.gregs[REG_RDX]));
  uc->uc_mcontext.gregs[REG_RIP] += 3;
}

void BM_RawTrappedStore(benchmark::State& state) {
  g_self_mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  if (g_self_mem < 0) return state.SkipWithError("cannot open /proc/self/mem");
  RawHandler handler(SIGSEGV, land_store);
  if (mprotect(&g_raw_trap_page, sizeof g_raw_trap_page, PROT_READ) != 0)
    return state.SkipWithError("mprotect failed");
  std::uint64_t i = 0;
  for (auto _ : state) {
    ++i;
    asm volatile(".byte 0x48, 0x89, 0x02  # mov %%rax, (%%rdx)" : : "a"(i), "d"(&g_raw_trap_page.watched) : "memory");
  }
  mprotect(&g_raw_trap_page, sizeof g_raw_trap_page, PROT_READ | PROT_WRITE);
  close(g_self_mem);
  if (g_raw_trap_page.watched != i) state.SkipWithError("the trapped stores did not land");
}
BENCHMARK(BM_RawTrappedStore);

// ---- paired: both sides alternate in blocks within one loop ------------------------------------
// The unpaired ratios above compare benchmarks run seconds apart; in the test VM (TCG on a
// shared host) a hit's absolute cost moved up to 4x between such moments. These alternate
// blocks of kBlock hits of each side, so both see the same moments (paired.hpp).
constexpr int kBlock = 8;

double store_block(volatile std::uint64_t& target, std::uint64_t& i) {
  return hwbp::bench::ns_per(kBlock, [&] { target = ++i; });
}

double call_block(int (*f)(int)) {
  int (*volatile call)(int) = f;
  int x = 0;
  const double ns = hwbp::bench::ns_per(kBlock, [&] { x = call(x); });
  benchmark::DoNotOptimize(x);
  return ns;
}

// The page engine turns syscall user dispatch on in every thread while a page watch is armed,
// which a program with only hardware watches does not pay: the page watch is armed only around
// its own blocks (untimed), so the hardware side is measured as its users get it.
void BM_PairedPageVsHardwareStoreHit(benchmark::State& state) {
  hwbp::Watch hw;
  if (!arm(state, hw, store_watch(g_hw_page, hwbp::Engine::hardware))) return;
  std::uint64_t i = 0;
  hwbp::bench::paired_timed(
      state,
      [&](const char** why) {
        hwbp::Watch page;
        try {
          page = hwbp::watch(store_watch(g_sw_page, hwbp::Engine::page));
        } catch (const hwbp::Error&) {
          *why = "the page engine refused the watch";
          return -1.0;
        }
        return store_block(g_sw_page.watched, i);
      },
      [&](const char**) { return store_block(g_hw_page.watched, i); });
}
BENCHMARK(BM_PairedPageVsHardwareStoreHit)->UseManualTime();

void BM_PairedUprobeVsHardwareExecHit(benchmark::State& state) {
  hwbp::Watch uprobe, hw;
  if (!arm(state, uprobe, exec_watch(hwbp::Engine::page))) return;
  hwbp::WatchOptions o = exec_watch(hwbp::Engine::hardware);
  o.addr = reinterpret_cast<std::uintptr_t>(&other_exec_target);
  if (!arm(state, hw, o)) return;
  hwbp::bench::paired_timed(
      state, [&](const char**) { return call_block(exec_target); },
      [&](const char**) { return call_block(other_exec_target); });
}
BENCHMARK(BM_PairedUprobeVsHardwareExecHit)->UseManualTime();

// The kernel's floors, paired the same way: a raw uprobe hit vs a raw hardware exec hit, and a
// raw trapped store vs a raw hardware store hit (own empty handlers, both events armed at once).
void BM_PairedRawUprobeVsRawHardwareExecHit(benchmark::State& state) {
  if (!hits_delivered(state)) return;
  const auto where = hwbp::perf::file_location(0, reinterpret_cast<std::uintptr_t>(&exec_target));
  const int type = hwbp::perf::uprobe_pmu_type();
  if (!where || type < 0) return state.SkipWithError("no uprobe PMU, or exec_target is in no file");
  RawHandler handler(SIGTRAP, count_trap);
  perf_event_attr u{};
  u.type = static_cast<std::uint32_t>(type);
  u.config1 = reinterpret_cast<std::uintptr_t>(where->path.c_str());
  u.config2 = where->offset;
  perf_event_attr x{};
  x.type = PERF_TYPE_BREAKPOINT;
  x.bp_type = HW_BREAKPOINT_X;
  x.bp_addr = reinterpret_cast<std::uintptr_t>(&other_exec_target);
  x.bp_len = sizeof(long);
  const int ufd = open_raw(u), xfd = open_raw(x);
  if (ufd >= 0 && xfd >= 0)
    hwbp::bench::paired_timed(
        state, [&](const char**) { return call_block(exec_target); },
        [&](const char**) { return call_block(other_exec_target); });
  else
    state.SkipWithError("perf_event_open(uprobe or exec breakpoint, sigtrap) failed");
  if (ufd >= 0) close(ufd);
  if (xfd >= 0) close(xfd);
}
BENCHMARK(BM_PairedRawUprobeVsRawHardwareExecHit)->UseManualTime();

void BM_PairedRawTrappedVsRawHardwareStore(benchmark::State& state) {
  if (!hits_delivered(state)) return;
  g_self_mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  if (g_self_mem < 0) return state.SkipWithError("cannot open /proc/self/mem");
  RawHandler segv(SIGSEGV, land_store);
  RawHandler trap(SIGTRAP, count_trap);
  const int fd = open_raw_store_watch();
  if (fd >= 0 && mprotect(&g_raw_trap_page, sizeof g_raw_trap_page, PROT_READ) == 0) {
    std::uint64_t i = 0;
    hwbp::bench::paired_timed(
        state,
        [&](const char**) {
          return hwbp::bench::ns_per(kBlock, [&] {
            ++i;
            asm volatile(".byte 0x48, 0x89, 0x02  # mov %%rax, (%%rdx)" : : "a"(i), "d"(&g_raw_trap_page.watched) : "memory");
          });
        },
        [&](const char**) { return store_block(g_raw_hw_page.watched, i); });
    mprotect(&g_raw_trap_page, sizeof g_raw_trap_page, PROT_READ | PROT_WRITE);
  } else {
    state.SkipWithError("perf_event_open(breakpoint, sigtrap) or mprotect failed");
  }
  if (fd >= 0) close(fd);
  close(g_self_mem);
}
BENCHMARK(BM_PairedRawTrappedVsRawHardwareStore)->UseManualTime();

// What hwbp adds to a uprobe hit: the library's uprobe watch vs a raw uprobe with an empty
// handler on another function, the SIGTRAP handler swapped between blocks.
void BM_PairedUprobeVsRawUprobeExecHit(benchmark::State& state) {
  const auto where = hwbp::perf::file_location(0, reinterpret_cast<std::uintptr_t>(&other_exec_target));
  const int type = hwbp::perf::uprobe_pmu_type();
  if (!where || type < 0) return state.SkipWithError("no uprobe PMU, or other_exec_target is in no file");
  hwbp::Watch uprobe;
  if (!arm(state, uprobe, exec_watch(hwbp::Engine::page))) return;
  RawHandler handler(SIGTRAP, count_trap);
  hwbp::bench::set_action(SIGTRAP, handler.saved());
  perf_event_attr u{};
  u.type = static_cast<std::uint32_t>(type);
  u.config1 = reinterpret_cast<std::uintptr_t>(where->path.c_str());
  u.config2 = where->offset;
  const int fd = open_raw(u);
  if (fd < 0) return state.SkipWithError("perf_event_open(uprobe, sigtrap) failed (root needed)");
  hwbp::bench::paired_timed(
      state, [&](const char**) { return call_block(exec_target); },
      [&](const char**) {
        hwbp::bench::set_action(SIGTRAP, handler.raw());
        const double ns = call_block(other_exec_target);
        hwbp::bench::set_action(SIGTRAP, handler.saved());
        return ns;
      });
  close(fd);
}
BENCHMARK(BM_PairedUprobeVsRawUprobeExecHit)->UseManualTime();

}  // namespace

HWBP_PAIRED_RATIO("paired_uprobe_exec_hit/raw_uprobe_exec_hit", "BM_PairedUprobeVsRawUprobeExecHit");
HWBP_PAIRED_RATIO("paired_page_store_hit/hardware_store_hit", "BM_PairedPageVsHardwareStoreHit");
HWBP_PAIRED_RATIO("paired_uprobe_exec_hit/hardware_exec_hit", "BM_PairedUprobeVsHardwareExecHit");
HWBP_PAIRED_RATIO("paired_raw_uprobe_exec_hit/raw_hardware_exec_hit", "BM_PairedRawUprobeVsRawHardwareExecHit");
HWBP_PAIRED_RATIO("paired_raw_trapped_store/raw_hardware_store_hit", "BM_PairedRawTrappedVsRawHardwareStore");
HWBP_RATIO("library_page_store_hit/library_hardware_store_hit", "BM_EnginePageStoreHit", "BM_EngineHardwareStoreHit");
HWBP_RATIO("library_uprobe_exec_hit/library_hardware_exec_hit", "BM_EngineUprobeExecHit", "BM_EngineHardwareExecHit");
HWBP_RATIO("library_page_store_hit/raw_trapped_store", "BM_EnginePageStoreHit", "BM_RawTrappedStore");
HWBP_RATIO("raw_trapped_store/raw_hardware_store_hit", "BM_RawTrappedStore", "BM_RawHardwareStoreHit");
HWBP_RATIO("library_hardware_store_hit/raw_hardware_store_hit", "BM_EngineHardwareStoreHit", "BM_RawHardwareStoreHit");
HWBP_RATIO("library_uprobe_exec_hit/raw_uprobe_exec_hit", "BM_EngineUprobeExecHit", "BM_RawUprobeExecHit");
HWBP_RATIO("raw_uprobe_exec_hit/raw_hardware_exec_hit", "BM_RawUprobeExecHit", "BM_RawHardwareExecHit");
HWBP_RATIO("library_hardware_exec_hit/raw_hardware_exec_hit", "BM_EngineHardwareExecHit", "BM_RawHardwareExecHit");
HWBP_RATIO("library_page_unwatched_store/unprotected_store", "BM_EnginePageUnwatchedStore", "BM_UnprotectedStore");
