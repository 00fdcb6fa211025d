// One watch of a GuestDebugger (private to src/kvm): what it watches and the mechanism serving
// it — debug-register slots, write-trapped pages or an int3.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/split.hpp"
#include "core/value_shadow.hpp"
#include "hwbp/kvm.hpp"
#include "kvm/debug_state.hpp"
#include "kvm/write_traps.hpp"

namespace hwbp::kvm {

// A watch on debug registers: its chunks (core::split_range) and the slot of each. At most one
// chunk per debug register, so fixed arrays: arming allocates nothing per watch.
inline constexpr std::size_t kMaxHardwareBytes = kDebugRegisters * 8;
struct HardwareWatch {
  std::uint8_t count = 0;
  std::array<core::Chunk, kDebugRegisters> chunks{};
  std::array<int, kDebugRegisters> slots{};
  std::array<std::uint64_t, kDebugRegisters> chunk_gpa{};  // where each chunk is in guest RAM (0: unknown)
  std::array<std::uint8_t, kMaxHardwareBytes> shadow{};    // the watched bytes as the last hit left them
  core::ShadowState shadow_state = core::ShadowState::invalid;  // core/value_shadow.hpp's rule
  bool shadow_confirmed() const { return shadow_state == core::ShadowState::confirmed; }
  std::span<const int> used_slots() const { return {slots.data(), count}; }
};

struct TrapWatch {
  std::vector<TrapPiece> pieces;
  std::uint64_t cr3 = 0;  // the address space it was translated in
  bool move_reported = false;
};

struct SoftwareBreakpoint {
  std::uint64_t gpa = 0;
  std::uint8_t original = 0;
};

struct Watch {
  WatchId id = 0;
  WatchSpec spec;
  Engine engine = Engine::hardware;
  HardwareWatch hw;
  TrapWatch trap;
  SoftwareBreakpoint sw;
  // Being removed: out of the debug state being applied, back in if that fails. Marked in place
  // rather than moved aside (a Watch is a few hundred bytes, and copies are what arming costs
  // under an emulating hypervisor such as the test VM's QEMU TCG).
  bool leaving = false;
};

}  // namespace hwbp::kvm
