// The full debug state of one vCPU as one kvm_guest_debug (pure: no syscalls).
//
// KVM_SET_GUEST_DEBUG is not incremental: every call replaces the breakpoints, the single-step
// flag, the software-breakpoint flag and BLOCKIRQ together (arch/x86/kvm/x86.c,
// kvm_arch_vcpu_ioctl_set_guest_debug). So the library composes the whole state from one
// description every time: stepping never drops a breakpoint (the crosvm and cloud-hypervisor
// bug), and a one-instruction step over a breakpoint disables just that slot.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>
#include <optional>

#include "core/split.hpp"

namespace hwbp::kvm {

inline constexpr unsigned kDebugRegisters = 4;

struct DebugRequest {
  // The slot table's chunk in each debug register (exec chunks: length 1). A slot's index is
  // fixed for its life, so DR6 bit n always names the chunk in slot n.
  std::array<std::optional<core::Chunk>, kDebugRegisters> slots{};
  std::uint8_t suppressed = 0;  // used slots left disabled for one step over a breakpoint
  bool single_step = false;
  bool block_irq = false;  // only while single-stepping
  bool software_breakpoints = false;
  bool general_detect = false;
  bool inject_db = false;
  bool inject_bp = false;
  friend bool operator==(const DebugRequest&, const DebugRequest&) = default;
};

// Slots that are used and not suppressed: the ones DR7 enables.
std::uint8_t enabled_slots(const DebugRequest& request) noexcept;

// The ioctl argument. DR7 comes from the core codec: global enables, bit 10 set, bits 63:32
// clear (KVM loads the debugger's DR7 unchecked, and VM entry fails on reserved bits). With
// nothing to do, control is 0: debugging off, the guest owns its debug registers.
kvm_guest_debug compose(const DebugRequest& request);

// Control bits of `control` that the kernel's SET_GUEST_DEBUG2 mask does not list. KVM accepts
// unknown bits silently (kvm-guest-debug.md 1.1), so the library checks them itself. A mask of 0
// means the kernel did not report one (before Linux 5.7): nothing is refused then.
std::uint32_t unlisted_control_bits(std::uint32_t control, std::uint32_t mask) noexcept;

}  // namespace hwbp::kvm
