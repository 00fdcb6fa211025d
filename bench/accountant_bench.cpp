// Slot accountant vs the naive oracle: latency of reserve + release of one more breakpoint on a
// task, with `tasks` tasks each already holding one breakpoint on all CPUs (the kernel's common
// case: a task-bound event with cpu == -1). The accountant must stay flat in the number of tasks
// (the histograms make the all-CPU check O(slots)); the oracle scans every CPU x breakpoint.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>

#include "core/slot_accountant.hpp"
#include "ratio.hpp"
#include "unit/accountant_oracle.hpp"

namespace {

using hwbp::core::Admit;
using hwbp::core::Breakpoint;
using hwbp::core::SlotAccountant;
using hwbp::test::AccountantOracle;

constexpr hwbp::core::BpType kW = 2;

// Task ids 1..tasks; the timed breakpoint goes on a task in the middle of the population.
void accountant(benchmark::State& state, unsigned cpus, unsigned tasks) {
  SlotAccountant acc(hwbp::core::arch_x86_64(), cpus);
  for (unsigned t = 1; t <= tasks; ++t)
    if (acc.reserve({t, -1, kW, 1}).result != Admit::ok) state.SkipWithError("prefill refused");
  const Breakpoint bp{tasks / 2 + 1, -1, kW, 1};
  for (auto _ : state) {
    auto r = acc.reserve(bp);
    benchmark::DoNotOptimize(r);
    acc.release(r.handle);
  }
}

void oracle(benchmark::State& state, unsigned cpus, unsigned tasks) {
  AccountantOracle o(hwbp::core::arch_x86_64(), cpus);
  for (unsigned t = 1; t <= tasks; ++t) o.adopt({t, -1, kW, 1});  // admissible by construction
  const Breakpoint bp{tasks / 2 + 1, -1, kW, 1};
  for (auto _ : state) {
    auto r = o.reserve(bp);
    benchmark::DoNotOptimize(r);
    o.release(r.id);
  }
}

void BM_Accountant_2cpu_10tasks(benchmark::State& s) { accountant(s, 2, 10); }
void BM_Accountant_256cpu_10tasks(benchmark::State& s) { accountant(s, 256, 10); }
void BM_Accountant_256cpu_1000tasks(benchmark::State& s) { accountant(s, 256, 1000); }
void BM_Accountant_256cpu_10000tasks(benchmark::State& s) { accountant(s, 256, 10000); }
void BM_AccountantOracle_2cpu_10tasks(benchmark::State& s) { oracle(s, 2, 10); }
void BM_AccountantOracle_256cpu_1000tasks(benchmark::State& s) { oracle(s, 256, 1000); }
void BM_AccountantOracle_256cpu_10000tasks(benchmark::State& s) { oracle(s, 256, 10000); }

BENCHMARK(BM_Accountant_2cpu_10tasks);
BENCHMARK(BM_Accountant_256cpu_10tasks);
BENCHMARK(BM_Accountant_256cpu_1000tasks);
BENCHMARK(BM_Accountant_256cpu_10000tasks);
BENCHMARK(BM_AccountantOracle_2cpu_10tasks);
BENCHMARK(BM_AccountantOracle_256cpu_1000tasks);
BENCHMARK(BM_AccountantOracle_256cpu_10000tasks);

// "oracle_vs_accountant_*" = oracle time / accountant time (> 1: the accountant is faster; the
// printed ratio has 3 decimals, so the inverse would print 0.000 at 256 CPUs). The last one is the
// flatness check: accountant at 10,000 tasks / at 10 tasks, both on 256 CPUs (issue: <= 1.5).
HWBP_RATIO("oracle_vs_accountant_2cpu_10tasks", "BM_AccountantOracle_2cpu_10tasks", "BM_Accountant_2cpu_10tasks");
HWBP_RATIO("oracle_vs_accountant_256cpu_1000tasks", "BM_AccountantOracle_256cpu_1000tasks",
           "BM_Accountant_256cpu_1000tasks");
HWBP_RATIO("oracle_vs_accountant_256cpu_10000tasks", "BM_AccountantOracle_256cpu_10000tasks",
           "BM_Accountant_256cpu_10000tasks");
HWBP_RATIO("accountant_10000_vs_10_tasks", "BM_Accountant_256cpu_10000tasks", "BM_Accountant_256cpu_10tasks");

}  // namespace
// The same comparisons in the direction (accountant time / oracle time).
HWBP_RATIO("accountant_vs_oracle_2cpu_10tasks", "BM_Accountant_2cpu_10tasks", "BM_AccountantOracle_2cpu_10tasks");
HWBP_RATIO("accountant_vs_oracle_256cpu_1000tasks", "BM_Accountant_256cpu_1000tasks",
           "BM_AccountantOracle_256cpu_1000tasks");
HWBP_RATIO("accountant_vs_oracle_256cpu_10000tasks", "BM_Accountant_256cpu_10000tasks",
           "BM_AccountantOracle_256cpu_10000tasks");
