// "Did you mean" for unknown symbol names: edit distance, plus substring matches (a user who
// types "counter" most likely wants "request_counter", which is far in edit distance).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hwbp::symbols {

// Levenshtein distance (insert, delete, substitute cost 1).
std::size_t edit_distance(std::string_view a, std::string_view b);

// Collects candidates one by one and keeps the best few; cheap enough for the ~10^5 symbols of
// a large process (one O(n*m) distance per candidate, skipped when the lengths differ too much).
class SuggestionCollector {
 public:
  explicit SuggestionCollector(std::string query, std::size_t max_results = 5);
  void offer(std::string_view candidate);
  std::vector<std::string> take();

 private:
  struct Scored {
    std::size_t score;
    std::string name;
  };
  std::string query_;
  std::size_t max_results_;
  std::size_t max_distance_;
  std::vector<Scored> best_;
};

}  // namespace hwbp::symbols
