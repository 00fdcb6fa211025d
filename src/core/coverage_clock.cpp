#include "core/coverage_clock.hpp"

#include <algorithm>

namespace hwbp::core {

double CoverageClock::coverage(Clock::time_point now) const noexcept {
  const Clock::duration armed = armed_ + (armed_since_ ? now - *armed_since_ : Clock::duration{});
  const Clock::duration watched = watched_ + (watched_since_ ? now - *watched_since_ : Clock::duration{});
  if (watched.count() <= 0) return armed_since_ ? 1.0 : 0.0;
  return std::min(1.0, std::chrono::duration<double>(armed) / std::chrono::duration<double>(watched));
}

}  // namespace hwbp::core
