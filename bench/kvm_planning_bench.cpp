// GuestDebugger's bookkeeping for arming a set, natively (no /dev/kvm needed): add + remove of
// 2 breakpoints and 2 write watches through the same core and kvm pieces the debugger uses
// (tests/kvm/support/set_planning.hpp) vs the bare minimum a VMM does for the same — fill the
// kvm_guest_debug of the set and of nothing (compose). The ratio is the bookkeeping's price
// before any ioctl; bench/kvm_bench.cpp measures the whole add/remove against the raw ioctls
// in the test VM (make bench-kvm).
#include <benchmark/benchmark.h>

#include <array>

#include "kvm/support/set_planning.hpp"
#include "ratio.hpp"

namespace {

using hwbp::test::kvm::kPlanningSet;

void BM_KvmPlanSet(benchmark::State& state) {
  hwbp::test::kvm::SetPlanning planning;
  std::array<hwbp::kvm::WatchId, std::size(kPlanningSet)> ids{};
  for (auto _ : state) {
    if (!planning.add(kPlanningSet, ids)) return state.SkipWithError("the set does not fit");
    benchmark::DoNotOptimize(planning.applied());
    planning.remove(ids);
    benchmark::DoNotOptimize(planning.applied());
  }
}
BENCHMARK(BM_KvmPlanSet);

// The baseline: the set's debug state and the empty one, composed directly.
void BM_KvmComposeSet(benchmark::State& state) {
  hwbp::kvm::DebugRequest armed;
  for (unsigned n = 0; n < hwbp::kvm::kDebugRegisters; ++n) {
    const auto& s = kPlanningSet[n];
    armed.slots[n] = hwbp::core::Chunk{static_cast<std::uintptr_t>(s.addr), static_cast<std::uint8_t>(s.len),
                                       s.access == hwbp::Access::exec ? hwbp::core::HwType::exec
                                                                : hwbp::core::HwType::write};
  }
  benchmark::DoNotOptimize(armed);
  const hwbp::kvm::DebugRequest none;
  for (auto _ : state) {
    kvm_guest_debug a = hwbp::kvm::compose(armed);
    benchmark::DoNotOptimize(a);
    kvm_guest_debug b = hwbp::kvm::compose(none);
    benchmark::DoNotOptimize(b);
  }
}
BENCHMARK(BM_KvmComposeSet);

}  // namespace

HWBP_RATIO("kvm_plan_set/compose_set", "BM_KvmPlanSet", "BM_KvmComposeSet");
