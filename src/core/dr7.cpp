#include "core/dr7.hpp"

#include <string>

#include "hwbp/error.hpp"

namespace hwbp::core::x86 {

namespace {

constexpr unsigned kControlShift = 16;  // R/W0 starts at bit 16, 4 bits per slot
constexpr std::uint64_t kDr6TrapBits = 0xF;
constexpr std::uint64_t kDr6BusLock = 1u << 11;  // BLD, active-low
constexpr std::uint64_t kDr6Bd = 1u << 13;
constexpr std::uint64_t kDr6Bs = 1u << 14;
constexpr std::uint64_t kDr6Bt = 1u << 15;
constexpr std::uint64_t kDr6Rtm = 1u << 16;  // active-low

void check_slot_index(unsigned n) {
  if (n > 3)
    throw Error(Errc::invalid_request,
                "DR7 slot " + std::to_string(n) + " does not exist; x86 has slots 0 to 3");
}

// Enable bits of slot n: L at 2n, G at 2n + 1.
std::uint8_t enabled_slots(std::uint64_t raw_dr7) noexcept {
  std::uint8_t mask = 0;
  for (unsigned n = 0; n < 4; ++n) {
    if ((raw_dr7 >> (2 * n)) & 3) mask |= static_cast<std::uint8_t>(1u << n);
  }
  return mask;
}

}  // namespace

std::optional<unsigned> dr7_len_code(unsigned len_bytes) noexcept {
  // 8 bytes took the encoding left over when long mode arrived, hence 10 before 11.
  switch (len_bytes) {
    case 1:
      return 0;
    case 2:
      return 1;
    case 8:
      return 2;
    case 4:
      return 3;
    default:
      return std::nullopt;
  }
}

unsigned dr7_len_bytes(unsigned code) noexcept {
  static constexpr unsigned kBytes[4] = {1, 2, 8, 4};
  return kBytes[code & 3];
}

std::uint8_t dr7_nibble(DrRw rw, unsigned len_bytes) {
  // Instruction breakpoints must use LEN 00 whatever length perf was given (sizeof(long)).
  if (rw == DrRw::exec) return 0;
  const auto code = dr7_len_code(len_bytes);
  if (!code)
    throw Error(Errc::invalid_request, "DR7 length " + std::to_string(len_bytes) +
                                           " is not encodable; use 1, 2, 4 or 8 bytes");
  return static_cast<std::uint8_t>(*code << 2 | static_cast<unsigned>(rw));
}

std::uint64_t dr7_slot_bits(unsigned n, const Dr7Slot& slot) {
  check_slot_index(n);
  std::uint64_t bits = std::uint64_t{dr7_nibble(slot.rw, slot.len)} << (kControlShift + 4 * n);
  if (slot.local) bits |= std::uint64_t{1} << (2 * n);
  if (slot.global) bits |= std::uint64_t{1} << (2 * n + 1);
  return bits;
}

std::uint64_t dr7_encode(const Dr7& dr7, bool with_fixed1) {
  std::uint64_t raw = 0;
  for (unsigned n = 0; n < 4; ++n) raw |= dr7_slot_bits(n, dr7.slots[n]);
  if (dr7.local_exact) raw |= kDr7LocalExact;
  if (dr7.global_exact) raw |= kDr7GlobalExact;
  if (dr7.general_detect) raw |= kDr7GeneralDetect;
  if (with_fixed1) raw |= kDr7Fixed1;
  return raw;
}

Dr7 dr7_decode(std::uint64_t raw) noexcept {
  Dr7 out;
  for (unsigned n = 0; n < 4; ++n) {
    const unsigned nibble = (raw >> (kControlShift + 4 * n)) & 0xF;
    Dr7Slot& s = out.slots[n];
    s.local = (raw >> (2 * n)) & 1;
    s.global = (raw >> (2 * n + 1)) & 1;
    s.rw = static_cast<DrRw>(nibble & 3);
    // An instruction breakpoint covers one instruction; a LEN other than 00 with it is undefined
    // (Intel SDM vol. 3, 18.2.4 "LEN0-LEN3"), so it decodes as the encoder writes it: length 1.
    s.len = s.rw == DrRw::exec ? 1 : dr7_len_bytes(nibble >> 2);
  }
  out.local_exact = raw & kDr7LocalExact;
  out.global_exact = raw & kDr7GlobalExact;
  out.general_detect = raw & kDr7GeneralDetect;
  return out;
}

Dr6Status dr6_decode(std::uint64_t raw) noexcept {
  Dr6Status s;
  s.hit_mask = static_cast<std::uint8_t>(raw & kDr6TrapBits);
  s.bus_lock = !(raw & kDr6BusLock);
  s.debug_register_access = raw & kDr6Bd;
  s.single_step = raw & kDr6Bs;
  s.task_switch = raw & kDr6Bt;
  s.rtm = !(raw & kDr6Rtm);
  return s;
}

std::uint64_t dr6_encode(const Dr6Status& s) noexcept {
  std::uint64_t raw = kDr6Reserved | (s.hit_mask & kDr6TrapBits);
  if (s.bus_lock) raw &= ~kDr6BusLock;
  if (s.rtm) raw &= ~kDr6Rtm;
  if (s.debug_register_access) raw |= kDr6Bd;
  if (s.single_step) raw |= kDr6Bs;
  if (s.task_switch) raw |= kDr6Bt;
  return raw;
}

std::uint8_t dr6_hits_enabled(std::uint64_t raw_dr6, std::uint64_t raw_dr7) noexcept {
  // B_n is also set for a slot whose condition matched while disabled.
  return static_cast<std::uint8_t>(raw_dr6 & kDr6TrapBits) & enabled_slots(raw_dr7);
}

}  // namespace hwbp::core::x86
