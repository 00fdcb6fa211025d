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
      if (run.run_type == Run::RT_Aggregate) {
        // With --benchmark_repetitions the median is the figure (robust to a noisy neighbour).
        if (run.aggregate_name == "median") medians_[run.run_name.str()] = ns;
        continue;
      }
      // Keep the plain name ("BM_x" or "BM_x/arg"); real time per iteration in ns.
      times_[run.benchmark_name()] = ns;
    }
    ConsoleReporter::ReportRuns(runs);
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
  for (const auto& def : hwbp::bench::ratio_registry()) {
    auto num = times.find(def.numerator);
    auto den = times.find(def.denominator);
    if (num == times.end() || den == times.end() || den->second <= 0) continue;  // filtered out
    std::printf("ratio %s %.4g\n", def.name.c_str(), num->second / den->second);
  }
  return 0;
}
