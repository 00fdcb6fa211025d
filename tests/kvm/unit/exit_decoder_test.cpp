#include "kvm/exit_decoder.hpp"

#include <gtest/gtest.h>

namespace hwbp::kvm {
namespace {

using Reinject = DecodedDebugExit::Reinject;

DebugRequest armed() {
  DebugRequest r;
  r.slots[0] = core::Chunk{0x1000, 1, core::HwType::exec};
  r.slots[1] = core::Chunk{0x2000, 4, core::HwType::write};
  r.slots[2] = core::Chunk{0x2004, 2, core::HwType::read_write};
  return r;
}

TEST(KvmExitDecoder, SeveralDr6BitsAreSeveralHits) {
  const DecodedDebugExit d = decode_debug_exit(armed(), kDebugVector, 0xffff0ff6, false);
  EXPECT_EQ(d.data_hits, 0x6);
  EXPECT_EQ(d.exec_hits, 0);
  EXPECT_EQ(d.reinject, Reinject::none);
}

TEST(KvmExitDecoder, ExecHitFromTheSlotTableNotFromTheExitsDr7) {
  // The decoder never sees the exit's dr7 (0 on KVM's emulated paths): the slot table says
  // what slot 0 holds.
  const DecodedDebugExit d = decode_debug_exit(armed(), kDebugVector, 0xffff0ff1, false);
  EXPECT_EQ(d.exec_hits, 0x1);
  EXPECT_EQ(d.data_hits, 0);
}

TEST(KvmExitDecoder, BitsOfUnusedOrSuppressedSlotsAreIgnored) {
  DebugRequest r = armed();
  r.suppressed = 0x2;
  // B1 (suppressed) and B3 (unused) may be set for matches of disabled slots.
  const DecodedDebugExit d = decode_debug_exit(r, kDebugVector, 0xffff0ffe, false);
  EXPECT_EQ(d.data_hits, 0x4);
}

TEST(KvmExitDecoder, StepWinsOverAnExecHitThatFiresAgain) {
  DebugRequest r = armed();
  r.single_step = true;
  const DecodedDebugExit d = decode_debug_exit(r, kDebugVector, 0xffff4ff1, false);
  EXPECT_TRUE(d.step);
  EXPECT_EQ(d.exec_hits, 0);
  EXPECT_EQ(d.reinject, Reinject::none);
}

TEST(KvmExitDecoder, GuestSingleStepIsGivenBackWithBs) {
  const DecodedDebugExit d = decode_debug_exit(armed(), kDebugVector, 0xffff4ff0, false);
  EXPECT_FALSE(d.step);
  EXPECT_EQ(d.reinject, Reinject::debug);
  EXPECT_EQ(d.guest_dr6, 0xffff4ff0u);
}

TEST(KvmExitDecoder, GuestStepTogetherWithADataHitIsBoth) {
  const DecodedDebugExit d = decode_debug_exit(armed(), kDebugVector, 0xffff4ff2, false);
  EXPECT_EQ(d.data_hits, 0x2);
  EXPECT_EQ(d.reinject, Reinject::debug);
}

TEST(KvmExitDecoder, IcebpHasNoBitAndIsGivenBack) {
  const DecodedDebugExit d = decode_debug_exit(armed(), kDebugVector, 0xffff0ff0, false);
  EXPECT_EQ(d.reinject, Reinject::debug);
  EXPECT_EQ(d.guest_dr6, 0xffff0ff0u);
}

TEST(KvmExitDecoder, GeneralDetectOnlyWhenArmed) {
  DebugRequest r = armed();
  r.general_detect = true;
  EXPECT_TRUE(decode_debug_exit(r, kDebugVector, 0xffff2ff0, false).general_detect);
  r.general_detect = false;
  EXPECT_FALSE(decode_debug_exit(r, kDebugVector, 0xffff2ff0, false).general_detect);
}

TEST(KvmExitDecoder, Int3IsOursOnlyAtOurBreakpoint) {
  DebugRequest r = armed();
  r.software_breakpoints = true;
  EXPECT_TRUE(decode_debug_exit(r, kBreakpointVector, 0, true).software_breakpoint);
  const DecodedDebugExit guest = decode_debug_exit(r, kBreakpointVector, 0xffff0ff1, false);
  EXPECT_FALSE(guest.software_breakpoint);
  EXPECT_EQ(guest.reinject, Reinject::breakpoint);
  EXPECT_EQ(guest.exec_hits, 0) << "DR6 is stale on #BP exits";
}

}  // namespace
}  // namespace hwbp::kvm
