// A paired measurement: one loop alternates the library's operation and the raw one it is
// compared with, times each, and publishes the ratio of their medians as state.counters["ratio"]
// (HWBP_PAIRED_RATIO in ratio.hpp prints it). Both sides see the same machine load, and, where
// it matters, the same state (the same threads on the same CPUs): the development machines are
// shared VMs whose neighbours move absolute timings, and an IPI to another vCPU costs tens of
// microseconds there.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace hwbp::bench {

inline double median(std::vector<double>& v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// The ratio of the two sides' medians and each side's median, or the reason one side failed.
inline void report_paired(benchmark::State& state, std::vector<double>& lib_ns, std::vector<double>& raw_ns,
                          const char* why) {
  if (why) return state.SkipWithError(why);
  if (lib_ns.empty()) return;
  const double l = median(lib_ns), r = median(raw_ns);
  state.counters["ratio"] = l / r;
  state.counters["library_us"] = l / 1000;
  state.counters["raw_us"] = r / 1000;
}

// `lib` and `raw` return false (with the reason in *why) when the operation did not do what
// the benchmark expects; the benchmark is then skipped with that reason. The iteration time
// reported is the library's (register the benchmark with UseManualTime()).
template <class Lib, class Raw>
void paired(benchmark::State& state, Lib&& lib, Raw&& raw) {
  using Clock = std::chrono::steady_clock;
  std::vector<double> lib_ns, raw_ns;
  const char* why = nullptr;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    if (!lib(&why)) break;
    const auto t1 = Clock::now();
    if (!raw(&why)) break;
    const auto t2 = Clock::now();
    lib_ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
    raw_ns.push_back(std::chrono::duration<double, std::nano>(t2 - t1).count());
    state.SetIterationTime(lib_ns.back() * 1e-9);
  }
  report_paired(state, lib_ns, raw_ns, why);
}

// Same, for sides that time themselves: each returns its nanoseconds per operation for one
// measured block (untimed set-up around the block is theirs), or a negative value with *why set.
template <class Lib, class Raw>
void paired_timed(benchmark::State& state, Lib&& lib, Raw&& raw) {
  std::vector<double> lib_ns, raw_ns;
  const char* why = nullptr;
  for (auto _ : state) {
    const double l = lib(&why);
    if (l < 0) break;
    const double r = raw(&why);
    if (r < 0) break;
    lib_ns.push_back(l);
    raw_ns.push_back(r);
    state.SetIterationTime(l * 1e-9);
  }
  report_paired(state, lib_ns, raw_ns, why);
}

// Nanoseconds per call of `op` over `n` calls.
template <class Op>
double ns_per(int n, Op&& op) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) op();
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / n;
}

}  // namespace hwbp::bench
