// Google Benchmark main that also prints "ratio NAME VALUE" lines for the ratios the bench
// files declare (both sides measured in this same run; the machines are noisy).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>

#include "ratio.hpp"

namespace hwbp::bench {

std::vector<RatioDef>& ratio_registry() {
  static std::vector<RatioDef> defs;
  return defs;
}

namespace {

class CapturingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      double ns = run.GetAdjustedRealTime() * to_ns(run.time_unit);
      const auto ratio = run.counters.find("ratio");
      if (run.run_type == Run::RT_Aggregate) {
        // With --benchmark_repetitions the median is the figure (robust to a noisy neighbour).
        if (run.aggregate_name == "median") {
          medians_[run.run_name.str()] = ns;
          if (ratio != run.counters.end()) paired_medians_[run.run_name.str()] = ratio->second;
        }
        continue;
      }
      // Keep the plain name ("BM_x" or "BM_x/arg"); real time per iteration in ns.
      times_[run.benchmark_name()] = ns;
      if (ratio != run.counters.end()) paired_[run.benchmark_name()] = ratio->second;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // Paired benchmarks' own ratio counters (medians over repetitions when there are some).
  std::map<std::string, double> paired() const {
    std::map<std::string, double> out = paired_;
    for (const auto& [name, r] : paired_medians_) out[name] = r;
    return out;
  }
  std::map<std::string, double> times() const {
    std::map<std::string, double> out = times_;
    for (const auto& [name, ns] : medians_) out[name] = ns;
    return out;
  }

 private:
  static double to_ns(benchmark::TimeUnit unit) {
    switch (unit) {
      case benchmark::kSecond: return 1e9;
      case benchmark::kMillisecond: return 1e6;
      case benchmark::kMicrosecond: return 1e3;
      default: return 1.0;
    }
  }
  std::map<std::string, double> times_;
  std::map<std::string, double> medians_;
  std::map<std::string, double> paired_;
  std::map<std::string, double> paired_medians_;
};

}  // namespace
}  // namespace hwbp::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  hwbp::bench::CapturingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  const auto times = reporter.times();
  const auto paired = reporter.paired();
  for (const auto& def : hwbp::bench::ratio_registry()) {
    if (def.denominator.empty()) {
      auto it = paired.find(def.numerator);
      if (it != paired.end()) std::printf("ratio %s %.4g\n", def.name.c_str(), it->second);
      continue;
    }
    auto num = times.find(def.numerator);
    auto den = times.find(def.denominator);
    if (num == times.end() || den == times.end() || den->second <= 0) continue;  // filtered out
    std::printf("ratio %s %.4g\n", def.name.c_str(), num->second / den->second);
  }
  return 0;
}
