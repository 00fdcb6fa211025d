// Decoding a KVM_EXIT_DEBUG from the library's own slot table (pure: no syscalls).
//
// Never from the exit's dr7: KVM does not write it when its emulator raised the #DB
// (kvm_inject_emulated_db, arch/x86/kvm/x86.c) — it reads 0 on emulation-heavy backends. DR6
// names slots by index, and the slot table knows what each index holds.
#pragma once

#include <cstdint>

#include "kvm/debug_state.hpp"

namespace hwbp::kvm {

inline constexpr std::uint32_t kDebugVector = 1;       // #DB
inline constexpr std::uint32_t kBreakpointVector = 3;  // #BP

// What an exit means to the debugger.
struct DecodedDebugExit {
  std::uint8_t exec_hits = 0;        // execute-breakpoint slots that fired (pc = the breakpoint)
  std::uint8_t data_hits = 0;        // data slots that fired (pc = after the access)
  bool step = false;                 // BS while the library was single-stepping
  bool general_detect = false;       // BD while DR7.GD was armed
  bool software_breakpoint = false;  // #BP at one of the library's int3s
  // Not the debugger's: the guest's own TF step, ICEBP or int3. Give it back to the guest.
  enum class Reinject : std::uint8_t { none, debug, breakpoint } reinject = Reinject::none;
  std::uint64_t guest_dr6 = 0;  // for Reinject::debug: what the guest's DR6 must read
};

// `armed`: the state the vCPU ran with (suppressed slots are not enabled, so their B bits are
// ignored: DR6 sets B_n for matching disabled slots too, Intel SDM vol. 3 18.2.3).
// `pc_is_software_breakpoint`: the exit's pc holds one of the library's int3s.
DecodedDebugExit decode_debug_exit(const DebugRequest& armed, std::uint32_t exception, std::uint64_t dr6,
                                   bool pc_is_software_breakpoint);

}  // namespace hwbp::kvm
