#include "core/value_filter.hpp"

#include <algorithm>

namespace hwbp::core {

ValueChange compare_values(std::optional<std::span<const std::uint8_t>> old_bytes,
                           std::optional<std::span<const std::uint8_t>> new_bytes) noexcept {
  if (!old_bytes || !new_bytes || old_bytes->empty() || new_bytes->empty())
    return ValueChange::unknown;
  return std::equal(old_bytes->begin(), old_bytes->end(), new_bytes->begin(), new_bytes->end())
             ? ValueChange::unchanged
             : ValueChange::changed;
}

}  // namespace hwbp::core
