#include "kvm/debug_state.hpp"

#include <gtest/gtest.h>

namespace hwbp::kvm {
namespace {

core::Chunk exec_at(std::uint64_t a) { return core::Chunk{a, 1, core::HwType::exec}; }
core::Chunk write_at(std::uint64_t a, std::uint8_t len) { return core::Chunk{a, len, core::HwType::write}; }

// The DR7 values of the debug_regs selftest: exec from DRi = 0x400 | G_i, 4-byte write from DRi
// = 0x400 | G_i | 0xD << (16 + 4i).
TEST(KvmDebugState, SelftestDr7Values) {
  for (unsigned i = 0; i < 4; ++i) {
    DebugRequest exec;
    exec.slots[i] = exec_at(0x1000);
    const kvm_guest_debug e = compose(exec);
    EXPECT_EQ(e.arch.debugreg[7], 0x400u | (1u << (2 * i + 1))) << i;
    EXPECT_EQ(e.arch.debugreg[i], 0x1000u);
    EXPECT_EQ(e.control, static_cast<std::uint32_t>(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP));
    DebugRequest write;
    write.slots[i] = write_at(0x2000, 4);
    EXPECT_EQ(compose(write).arch.debugreg[7], 0x400u | (1u << (2 * i + 1)) | (0xDull << (16 + 4 * i))) << i;
  }
}

TEST(KvmDebugState, Dr7HasBit10AndNoHighBits) {
  DebugRequest r;
  r.slots[0] = write_at(0x2000, 8);
  r.slots[1] = core::Chunk{0x3000, 2, core::HwType::read_write};
  r.slots[2] = core::Chunk{0x4000, 1, core::HwType::read};  // x86: read is read-write plus a filter
  r.slots[3] = exec_at(0x5000);
  r.general_detect = true;
  const std::uint64_t dr7 = compose(r).arch.debugreg[7];
  EXPECT_EQ(dr7 >> 32, 0u);
  EXPECT_TRUE(dr7 & 0x400);
  EXPECT_TRUE(dr7 & (1u << 13));
  EXPECT_EQ((dr7 >> 16) & 0xf, 0x9u);  // 8-byte write: LEN 10, RW 01
  EXPECT_EQ((dr7 >> 20) & 0xf, 0x7u);  // 2-byte read-write
  EXPECT_EQ((dr7 >> 24) & 0xf, 0x3u);  // 1-byte read-write
  EXPECT_EQ((dr7 >> 28) & 0xf, 0x0u);  // execute: LEN 00
}

TEST(KvmDebugState, NothingToDoIsDebuggingOff) {
  const kvm_guest_debug d = compose(DebugRequest{});
  EXPECT_EQ(d.control, 0u);
  EXPECT_EQ(d.arch.debugreg[7], 0x400u);
}

TEST(KvmDebugState, SteppingAloneLeavesTheGuestItsDebugRegisters) {
  DebugRequest r;
  r.single_step = true;
  EXPECT_EQ(compose(r).control, static_cast<std::uint32_t>(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP));
  r.block_irq = true;
  EXPECT_EQ(compose(r).control, static_cast<std::uint32_t>(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP |
                                                           KVM_GUESTDBG_BLOCKIRQ));
  r.single_step = false;  // BLOCKIRQ only while stepping
  EXPECT_EQ(compose(r).control, 0u);
}

// Stepping keeps every breakpoint (the crosvm / cloud-hypervisor bug): the full state each time.
TEST(KvmDebugState, SteppingKeepsTheBreakpoints) {
  DebugRequest r;
  r.slots[0] = exec_at(0x1000);
  r.slots[2] = write_at(0x2000, 4);
  const kvm_guest_debug plain = compose(r);
  r.single_step = true;
  const kvm_guest_debug stepping = compose(r);
  EXPECT_EQ(stepping.arch.debugreg[7], plain.arch.debugreg[7]);
  EXPECT_EQ(stepping.arch.debugreg[0], 0x1000u);
  EXPECT_EQ(stepping.arch.debugreg[2], 0x2000u);
  EXPECT_EQ(stepping.control, plain.control | KVM_GUESTDBG_SINGLESTEP);
}

// A step over the breakpoint in slot 1: only that slot is disabled, the debugger keeps the
// registers (USE_HW_BP), the others stay armed.
TEST(KvmDebugState, SuppressedSlotIsDisabledForTheStepOnly) {
  DebugRequest r;
  r.slots[0] = write_at(0x2000, 4);
  r.slots[1] = exec_at(0x1000);
  r.suppressed = 0x2;
  r.single_step = true;
  EXPECT_EQ(enabled_slots(r), 0x1);
  const kvm_guest_debug d = compose(r);
  EXPECT_EQ(d.arch.debugreg[1], 0x1000u);
  EXPECT_EQ(d.arch.debugreg[7] & 0xff, 0x2u);  // G0 only
  EXPECT_TRUE(d.control & KVM_GUESTDBG_USE_HW_BP);
  r.slots[0].reset();
  EXPECT_TRUE(compose(r).control & KVM_GUESTDBG_USE_HW_BP) << "still the debugger's registers";
}

TEST(KvmDebugState, InjectionAndSoftwareBreakpointFlags) {
  DebugRequest r;
  r.inject_db = true;
  EXPECT_EQ(compose(r).control, static_cast<std::uint32_t>(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_INJECT_DB));
  r = DebugRequest{};
  r.software_breakpoints = true;
  r.inject_bp = true;
  EXPECT_EQ(compose(r).control, static_cast<std::uint32_t>(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP |
                                                           KVM_GUESTDBG_INJECT_BP));
}

TEST(KvmDebugState, ControlBitsOutsideTheKernelsMask) {
  constexpr std::uint32_t linux_6_18 = 0x1f0003;  // kvm-guest-debug.md 1.1
  constexpr std::uint32_t before_blockirq = 0x0f0003;
  const std::uint32_t stepping = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_BLOCKIRQ;
  EXPECT_EQ(unlisted_control_bits(stepping, linux_6_18), 0u);
  EXPECT_EQ(unlisted_control_bits(stepping, before_blockirq),
            static_cast<std::uint32_t>(KVM_GUESTDBG_BLOCKIRQ));
  EXPECT_EQ(unlisted_control_bits(0x80000000u | KVM_GUESTDBG_ENABLE, linux_6_18), 0x80000000u);
  EXPECT_EQ(unlisted_control_bits(stepping, 0), 0u) << "no mask reported: nothing to refuse on";
}

}  // namespace
}  // namespace hwbp::kvm
