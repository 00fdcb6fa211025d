// One hit through the library on each mechanism, measured in the same run (issue 15):
//  - a store trapped by page protection vs a hardware (debug-register) hit: at most 10x;
//  - an exec hit through a uprobe vs a hardware exec hit: at most 3x;
//  - a store to an unwatched byte of a protected page vs the same store to an unprotected page
//    (page_bench.cpp measures how it scales with threads).
// The hardware baselines skip where debug exceptions are not delivered (no ratio is printed):
// run `hwbp_bench` in the test VM for those ratios (README, "Benchmarks").
#include <benchmark/benchmark.h>

#include <cstdint>

#include "hwbp/hwbp.hpp"
#include "ratio.hpp"

namespace {

struct alignas(4096) OwnPage {
  volatile std::uint64_t watched;
  volatile std::uint64_t neighbour;
};
OwnPage g_hw_page, g_sw_page, g_plain_page;

__attribute__((noinline)) int exec_target(int x) {
  asm volatile("" ::: "memory");
  return x + 1;
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

}  // namespace

HWBP_RATIO("library_page_store_hit/library_hardware_store_hit", "BM_EnginePageStoreHit", "BM_EngineHardwareStoreHit");
HWBP_RATIO("library_uprobe_exec_hit/library_hardware_exec_hit", "BM_EngineUprobeExecHit", "BM_EngineHardwareExecHit");
HWBP_RATIO("library_page_unwatched_store/unprotected_store", "BM_EnginePageUnwatchedStore", "BM_UnprotectedStore");
