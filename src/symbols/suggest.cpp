#include "symbols/suggest.hpp"

#include <algorithm>
#include <numeric>

namespace hwbp::symbols {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Two-row dynamic programming: row[j] = distance(a[0..i), b[0..j)).
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  std::iota(prev.begin(), prev.end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

SuggestionCollector::SuggestionCollector(std::string query, std::size_t max_results)
    : query_(std::move(query)),
      max_results_(max_results),
      // Allow about one typo per three characters, at least two.
      max_distance_(std::max<std::size_t>(2, query_.size() / 3)) {}

void SuggestionCollector::offer(std::string_view candidate) {
  if (candidate.empty() || candidate == query_) return;
  std::size_t score;
  if (candidate.find(query_) != std::string_view::npos && query_.size() >= 3) {
    // Substring hit: rank by how much extra text surrounds the query, after close typos.
    score = max_distance_ + (candidate.size() - query_.size());
  } else {
    std::size_t len_gap = candidate.size() > query_.size() ? candidate.size() - query_.size()
                                                           : query_.size() - candidate.size();
    if (len_gap > max_distance_) return;  // the distance is at least the length difference
    score = edit_distance(query_, candidate);
    if (score > max_distance_) return;
  }
  for (const auto& s : best_)
    if (s.name == candidate) return;  // the same name in several modules
  best_.push_back({score, std::string(candidate)});
  std::stable_sort(best_.begin(), best_.end(),
                   [](const Scored& x, const Scored& y) { return x.score < y.score; });
  if (best_.size() > max_results_) best_.pop_back();
}

std::vector<std::string> SuggestionCollector::take() {
  std::vector<std::string> out;
  for (auto& s : best_) out.push_back(std::move(s.name));
  best_.clear();
  return out;
}

}  // namespace hwbp::symbols
