// Coverage of a watch that is not armed all the time (a flexible watch taking turns, a disabled
// one): the fraction of the time it was watched during which it was armed in hardware. Reported
// next to its hits, since "0 hits" means little at low coverage. Pure: the caller passes time.
#pragma once

#include <chrono>
#include <optional>

namespace hwbp::core {

class CoverageClock {
 public:
  using Clock = std::chrono::steady_clock;

  // The watch exists for the user (armed or waiting for its turn) from `now` / until `now`.
  void set_watched(bool on, Clock::time_point now) noexcept { toggle(watched_, watched_since_, on, now); }
  // The watch holds its slots in hardware, enabled, from / until `now`.
  void set_armed(bool on, Clock::time_point now) noexcept { toggle(armed_, armed_since_, on, now); }
  bool armed() const noexcept { return armed_since_.has_value(); }
  bool watched() const noexcept { return watched_since_.has_value(); }

  // Armed time / watched time, in [0, 1]. Before any time has passed: 1 if armed, else 0.
  double coverage(Clock::time_point now) const noexcept;

 private:
  static void toggle(Clock::duration& total, std::optional<Clock::time_point>& since, bool on,
                     Clock::time_point now) noexcept {
    if (on && !since) since = now;
    if (!on && since) total += now - *since, since.reset();
  }
  Clock::duration armed_{}, watched_{};
  std::optional<Clock::time_point> armed_since_, watched_since_;
};

}  // namespace hwbp::core
