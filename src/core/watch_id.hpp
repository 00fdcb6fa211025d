// A watch's identity inside one watch engine (the CLI's watch set, a delivery's tables): a
// number that names a watch, never an index to compute with. Engines that keep their watches in
// a vector use it as the position, behind one accessor; everything else passes it around whole.
#pragma once

#include <compare>
#include <cstdint>

namespace hwbp::core {

struct WatchId {
  std::uint32_t value = 0;
  friend auto operator<=>(const WatchId&, const WatchId&) = default;
};

}  // namespace hwbp::core
