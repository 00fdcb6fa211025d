// x86 DR7 encoder and DR6 decoder as pure functions (Intel SDM vol. 3 ch. 18 layout).
// Used for explaining slot layouts and, later, for KVM guest debug.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

namespace hwbp::core::x86 {

enum class DrRw : std::uint8_t { exec = 0, write = 1, io = 2, read_write = 3 };

inline constexpr std::uint64_t kDr7Fixed1 = 0x400;        // bit 10 reads as 1
inline constexpr std::uint64_t kDr7LocalExact = 0x100;    // LE
inline constexpr std::uint64_t kDr7GlobalExact = 0x200;   // GE
inline constexpr std::uint64_t kDr7GeneralDetect = 1u << 13;
inline constexpr std::uint64_t kDr6Reserved = 0xFFFF0FF0; // DR6 "nothing happened"

struct Dr7Slot {
  bool local = false;
  bool global = false;
  DrRw rw = DrRw::exec;
  unsigned len = 1;  // bytes: 1, 2, 4 or 8 (LEN codes 00, 01, 11, 10 — note 8 is 10)
  bool enabled() const noexcept { return local || global; }
  friend bool operator==(const Dr7Slot&, const Dr7Slot&) = default;
};

struct Dr7 {
  std::array<Dr7Slot, 4> slots{};
  bool local_exact = false;
  bool global_exact = false;
  bool general_detect = false;
  friend bool operator==(const Dr7&, const Dr7&) = default;
};

// LEN code for a byte length (1->0, 2->1, 8->2, 4->3); nullopt for other lengths.
std::optional<unsigned> dr7_len_code(unsigned len_bytes) noexcept;
// Byte length for a LEN code (0->1, 1->2, 2->8, 3->4).
unsigned dr7_len_bytes(unsigned code) noexcept;
// The 4-bit field LEN << 2 | RW for one slot.
std::uint8_t dr7_nibble(DrRw rw, unsigned len_bytes);
// Bits for slot n (0..3) alone: enable bit(s) + nibble at 16 + 4n. Exec uses LEN 00.
std::uint64_t dr7_slot_bits(unsigned n, const Dr7Slot& slot);
// Full register. Bit 10 is set when `with_fixed1` (hardware read-back / VMM style).
std::uint64_t dr7_encode(const Dr7& dr7, bool with_fixed1 = false);
// Decodes any 64-bit value; ignores reserved bits (63:32, 10, 11, 12, 14, 15).
Dr7 dr7_decode(std::uint64_t raw) noexcept;

struct Dr6Status {
  std::uint8_t hit_mask = 0;  // B0..B3
  bool bus_lock = false;      // BLD, active-low in the raw register
  bool debug_register_access = false;  // BD
  bool single_step = false;   // BS
  bool task_switch = false;   // BT
  bool rtm = false;           // active-low in the raw register
  friend bool operator==(const Dr6Status&, const Dr6Status&) = default;
};

// Raw DR6 (reserved bits read 1, BLD/RTM active-low) -> positive-polarity status.
Dr6Status dr6_decode(std::uint64_t raw) noexcept;
// Inverse of dr6_decode (reserved bits set, as the CPU and KVM report it).
std::uint64_t dr6_encode(const Dr6Status& status) noexcept;
// Slots that really fired: B bits may be set for matching but disabled slots, so mask with
// the enabled slots of DR7.
std::uint8_t dr6_hits_enabled(std::uint64_t raw_dr6, std::uint64_t raw_dr7) noexcept;

}  // namespace hwbp::core::x86
