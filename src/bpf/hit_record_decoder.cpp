#include "bpf/hit_record_decoder.hpp"

#include <algorithm>
#include <cstring>

namespace hwbp::bpf {

std::optional<DecodedHit> decode_hit_record(std::span<const std::uint8_t> record) noexcept {
  if (record.size() < sizeof(hwbp_bpf_hit)) return std::nullopt;
  DecodedHit d;
  std::memcpy(&d.hit, record.data(), sizeof d.hit);
  const std::size_t present = record.size() - sizeof(hwbp_bpf_hit);
  d.stack = record.subspan(sizeof(hwbp_bpf_hit), std::min<std::size_t>(d.hit.stack_size, present));
  d.hit.stack_size = static_cast<std::uint32_t>(d.stack.size());
  return d;
}

}  // namespace hwbp::bpf
