// Ratios between benchmarks measured in the same run. A bench file declares
//   HWBP_RATIO(name, "BM_numerator", "BM_baseline");
// and `make bench` prints "ratio NAME VALUE" (numerator time / baseline time per iteration).
#pragma once

#include <string>
#include <vector>

namespace hwbp::bench {

struct RatioDef {
  std::string name, numerator, denominator;  // denominator "": the numerator's own "ratio" counter
};

std::vector<RatioDef>& ratio_registry();

struct RatioRegistrar {
  RatioRegistrar(std::string name, std::string num, std::string den) {
    ratio_registry().push_back({std::move(name), std::move(num), std::move(den)});
  }
};

}  // namespace hwbp::bench

#define HWBP_RATIO_CAT2(a, b) a##b
#define HWBP_RATIO_CAT(a, b) HWBP_RATIO_CAT2(a, b)
#define HWBP_RATIO(name, num, den) \
  static ::hwbp::bench::RatioRegistrar HWBP_RATIO_CAT(hwbp_ratio_, __LINE__)(name, num, den)
// A benchmark that measures both sides itself, alternating them in one loop (a paired
// measurement: both see the same machine load), and publishes state.counters["ratio"].
#define HWBP_PAIRED_RATIO(name, benchmark) \
  static ::hwbp::bench::RatioRegistrar HWBP_RATIO_CAT(hwbp_ratio_, __LINE__)(name, benchmark, "")
