#include "kvm/debug_state.hpp"

#include "core/dr7.hpp"

namespace hwbp::kvm {

namespace {

core::x86::DrRw rw_of(core::HwType type) noexcept {
  switch (type) {
    case core::HwType::exec:
      return core::x86::DrRw::exec;
    case core::HwType::write:
      return core::x86::DrRw::write;
    case core::HwType::read:  // x86 has no read-only slot: read watches are rw plus a filter
    case core::HwType::read_write:
      return core::x86::DrRw::read_write;
  }
  return core::x86::DrRw::read_write;
}

}  // namespace

std::uint8_t enabled_slots(const DebugRequest& request) noexcept {
  std::uint8_t mask = 0;
  for (unsigned n = 0; n < kDebugRegisters; ++n)
    if (request.slots[n] && !(request.suppressed & (1u << n))) mask |= static_cast<std::uint8_t>(1u << n);
  return mask;
}

kvm_guest_debug compose(const DebugRequest& request) {
  kvm_guest_debug dbg{};
  core::x86::Dr7 dr7;
  bool any_slot = false;
  const std::uint8_t enabled = enabled_slots(request);
  for (unsigned n = 0; n < kDebugRegisters; ++n) {
    if (!request.slots[n]) continue;
    any_slot = true;
    const core::Chunk& chunk = *request.slots[n];
    dbg.arch.debugreg[n] = chunk.addr;
    dr7.slots[n].rw = rw_of(chunk.type);
    dr7.slots[n].len = chunk.type == core::HwType::exec ? 1 : chunk.len;
    // Global enables, as the kernel and every VMM use (KVM clears no L bits on task switches,
    // but G is the convention for a debugger that is not the guest).
    dr7.slots[n].global = (enabled >> n) & 1;
  }
  dr7.general_detect = request.general_detect;
  dbg.arch.debugreg[7] = core::x86::dr7_encode(dr7, /*with_fixed1=*/true);

  std::uint32_t control = 0;
  // USE_HW_BP stays on while a slot is only suppressed for one step: turning it off would hand
  // the debug registers to the guest for that instruction (kvm_update_dr7).
  if (any_slot || request.general_detect) control |= KVM_GUESTDBG_USE_HW_BP;
  if (request.single_step) control |= KVM_GUESTDBG_SINGLESTEP;
  if (request.single_step && request.block_irq) control |= KVM_GUESTDBG_BLOCKIRQ;
  if (request.software_breakpoints) control |= KVM_GUESTDBG_USE_SW_BP;
  if (request.inject_db) control |= KVM_GUESTDBG_INJECT_DB;
  if (request.inject_bp) control |= KVM_GUESTDBG_INJECT_BP;
  if (control != 0) control |= KVM_GUESTDBG_ENABLE;
  dbg.control = control;
  return dbg;
}

std::uint32_t unlisted_control_bits(std::uint32_t control, std::uint32_t mask) noexcept {
  return mask == 0 ? 0 : control & ~mask;
}

}  // namespace hwbp::kvm
