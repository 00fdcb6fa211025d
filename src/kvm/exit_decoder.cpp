#include "kvm/exit_decoder.hpp"

#include "core/dr7.hpp"

namespace hwbp::kvm {

DecodedDebugExit decode_debug_exit(const DebugRequest& armed, std::uint32_t exception, std::uint64_t dr6,
                                   bool pc_is_software_breakpoint) {
  DecodedDebugExit out;
  if (exception == kBreakpointVector) {
    // DR6 is stale on #BP exits (KVM writes it for #DB only).
    if (armed.software_breakpoints && pc_is_software_breakpoint)
      out.software_breakpoint = true;
    else
      out.reinject = DecodedDebugExit::Reinject::breakpoint;
    return out;
  }
  const core::x86::Dr6Status status = core::x86::dr6_decode(dr6);
  const std::uint8_t hits = status.hit_mask & enabled_slots(armed);
  for (unsigned n = 0; n < kDebugRegisters; ++n) {
    if (!((hits >> n) & 1)) continue;
    const auto bit = static_cast<std::uint8_t>(1u << n);
    if (armed.slots[n]->type == core::HwType::exec) {
      // A step that ends on a breakpoint reports both; the step wins and the breakpoint, a
      // fault, fires again when the vCPU runs on (the kernel's hw_breakpoint_handler does the
      // same: arch/x86/kernel/hw_breakpoint.c).
      if (!status.single_step) out.exec_hits |= bit;
    } else {
      out.data_hits |= bit;
    }
  }
  out.general_detect = status.debug_register_access && armed.general_detect;
  out.step = status.single_step && armed.single_step;
  const bool guest_step = status.single_step && !armed.single_step;
  const bool nothing_ours = !out.exec_hits && !out.data_hits && !out.step && !out.general_detect;
  // The guest's own TF single-step, or a #DB with no cause of ours (ICEBP sets no DR6 bit).
  // Every #DB exits while guest debugging is on (kvm-guest-debug.md 5), so these would be lost.
  if (guest_step || (nothing_ours && !status.single_step)) {
    out.reinject = DecodedDebugExit::Reinject::debug;
    core::x86::Dr6Status guest;
    guest.single_step = status.single_step;
    guest.task_switch = status.task_switch;
    out.guest_dr6 = core::x86::dr6_encode(guest);
  }
  return out;
}

}  // namespace hwbp::kvm
