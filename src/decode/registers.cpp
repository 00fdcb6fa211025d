#include "decode/registers.hpp"

#include <cstring>

namespace hwbp::decode {
namespace {
constexpr std::size_t kLegacyXmm = 160, kHeader = 512, kYmmHi = 576;
constexpr std::uint64_t kSseBit = 1u << 1, kAvxBit = 1u << 2;
}  // namespace

bool VectorState::read(unsigned reg, unsigned bytes, std::uint8_t* out) const noexcept {
  if (xsave == nullptr || reg >= 16 || bytes > 32 || size < 512) return false;
  const bool has_header = size >= kYmmHi;
  std::uint64_t xstate_bv = kSseBit;
  if (has_header) std::memcpy(&xstate_bv, xsave + kHeader, sizeof xstate_bv);
  unsigned low = bytes < 16 ? bytes : 16;
  if (xstate_bv & kSseBit)
    std::memcpy(out, xsave + kLegacyXmm + 16 * reg, low);
  else
    std::memset(out, 0, low);
  if (bytes <= 16) return true;
  if (!has_header) return false;
  if ((xstate_bv & kAvxBit) == 0) {
    std::memset(out + 16, 0, bytes - 16);
    return true;
  }
  if (size < kYmmHi + 16 * 16) return false;
  std::memcpy(out + 16, xsave + kYmmHi + 16 * reg, bytes - 16);
  return true;
}

}  // namespace hwbp::decode
