// libFuzzer target: the DR7 encoder and DR6 decoder (src/core/dr7.hpp), which read raw register
// values from outside (a KVM guest's debug registers, GDB's remote protocol). Every value
// decodes; decoding is a fixed point of encode; a DR6 hit mask never names a disabled slot.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/dr7.hpp"

using namespace hwbp::core::x86;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint64_t raw[2] = {0, 0};
  std::memcpy(raw, data, size < sizeof raw ? size : sizeof raw);
  const std::uint64_t dr7 = raw[0], dr6 = raw[1];

  const Dr7 decoded = dr7_decode(dr7);
  if (dr7_decode(dr7_encode(decoded)) != decoded) std::abort();
  if (dr7_decode(dr7_encode(decoded, true)) != decoded) std::abort();
  std::uint8_t enabled = 0;
  for (unsigned n = 0; n < 4; ++n) {
    const Dr7Slot& s = decoded.slots[n];
    if (s.len != 1 && s.len != 2 && s.len != 4 && s.len != 8) std::abort();
    if (dr7_len_bytes(*dr7_len_code(s.len)) != s.len) std::abort();
    if ((dr7_slot_bits(n, s) & ~dr7_encode(decoded)) != 0) std::abort();
    if (s.enabled()) enabled |= static_cast<std::uint8_t>(1u << n);
  }
  const Dr6Status status = dr6_decode(dr6);
  if (dr6_decode(dr6_encode(status)) != status) std::abort();
  if (status.hit_mask > 0xf) std::abort();
  if ((dr6_hits_enabled(dr6, dr7) & ~enabled) != 0) std::abort();
  return 0;
}
