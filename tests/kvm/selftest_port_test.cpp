// The kernel selftest tools/testing/selftests/kvm/x86/debug_regs.c, case by case, through
// hwbp::kvm with its exact expected pc and DR6 values. The guest (guest.S g_selftest) follows the
// selftest's code: the same instructions, so the same instruction lengths and pcs. Cases a backend
// cannot deliver skip with the library's probe's reason; the write-watch case runs again with
// write trapping, which every backend with read-only memslots delivers.
#include <gtest/gtest.h>

#include "support/guest_test_support.hpp"

namespace hwbp::test::kvm {
namespace {

using hwbp::kvm::Engine;
using hwbp::kvm::EventKind;
using hwbp::kvm::Feature;
using hwbp::kvm::GuestDebugger;
using hwbp::kvm::WatchSpec;

constexpr std::uint64_t kDr6Fixed = 0xffff0ff0;

// Dummy execute breakpoints on code never run, so that the next watch lands in debug register n.
std::vector<hwbp::kvm::WatchId> fill_slots_below(GuestDebugger& dbg, unsigned n) {
  std::vector<hwbp::kvm::WatchId> ids;
  for (unsigned i = 0; i < n; ++i) ids.push_back(dbg.add(WatchSpec{at(g_unreached) + i, 1, Access::exec}));
  return ids;
}

void set_rip(GuestDebugger& dbg, std::uint64_t rip) {
  kvm_regs r = dbg.registers(0);
  r.rip = rip;
  dbg.set_registers(0, r);
}

// Selftest case 1: int3 with KVM_GUESTDBG_USE_SW_BP exits with exception 3 at the int3.
TEST(DebugRegsSelftest, Int3WithUseSwBpExitsAtTheInt3) {
  HWBP_KVM_REQUIRE_FEATURE(Feature::int3_exits);
  TestVm vm;
  vm.enter(0, at(g_sw_bp), kData);
  GuestDebugger dbg(vm.handles());
  const auto id = dbg.add(WatchSpec{at(g_sw_bp), 1, Access::exec, Engine::software});
  GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, events);
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].kind, EventKind::breakpoint);
  EXPECT_EQ(s.events[0].engine, Engine::software);
  EXPECT_EQ(s.events[0].watch, id);
  EXPECT_EQ(s.events[0].pc, at(g_sw_bp));
  dbg.remove(id);
  set_rip(dbg, at(g_sw_bp) + 1);  // the selftest's vcpu_skip_insn(1)
  s = vm.run(0, &dbg);
  EXPECT_STOP(s, done);
}

// Selftest case 2: an execute breakpoint on the same nop from DR0, DR1, DR2, DR3 in turn; rip
// stays on the nop (a fault), so each fires there; dr6 names the register.
TEST(DebugRegsSelftest, ExecBreakpointFromEachDebugRegister) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  vm.enter(0, at(g_hw_bp), kData);
  GuestDebugger dbg(vm.handles());
  for (unsigned i = 0; i < 4; ++i) {
    SCOPED_TRACE("DR" + std::to_string(i));
    const auto dummies = fill_slots_below(dbg, i);
    const auto id = dbg.add(WatchSpec{at(g_hw_bp), 1, Access::exec});
    const GuestStop s = vm.run(0, &dbg);
    EXPECT_STOP(s, events);
    ASSERT_EQ(s.events.size(), 1u) << s.describe();
    const auto& e = s.events[0];
    EXPECT_EQ(e.kind, EventKind::breakpoint);
    EXPECT_EQ(e.watch, id);
    EXPECT_EQ(e.slot, static_cast<int>(i));
    EXPECT_EQ(e.pc, at(g_hw_bp));
    EXPECT_EQ(e.dr6, kDr6Fixed | (1u << i));
    dbg.remove(id);
    dbg.remove(dummies);
  }
  set_rip(dbg, at(g_hw_bp) + 1);
  dbg.detach();
}

// Selftest case 3: a 4-byte write watch on guest_value from each debug register; the store traps
// after it completes (pc = write_data); the selftest rewinds and stores again for the next one.
TEST(DebugRegsSelftest, WriteWatchFromEachDebugRegister) {
  HWBP_KVM_REQUIRE_FEATURE(Feature::data_hits);
  TestVm vm;
  vm.enter(0, at(g_hw_bp) + 1, kData);  // mov $1234, %rax; mov %rax, (guest_value)
  GuestDebugger dbg(vm.handles());
  for (unsigned i = 0; i < 4; ++i) {
    SCOPED_TRACE("DR" + std::to_string(i));
    const auto dummies = fill_slots_below(dbg, i);
    const auto id = dbg.add(WatchSpec{kData, 4, Access::write, Engine::hardware});
    const GuestStop s = vm.run(0, &dbg);
    EXPECT_STOP(s, events);
    ASSERT_EQ(s.events.size(), 1u) << s.describe();
    const auto& e = s.events[0];
    EXPECT_EQ(e.kind, EventKind::data);
    EXPECT_EQ(e.slot, static_cast<int>(i));
    EXPECT_EQ(e.pc, at(g_write_data));
    EXPECT_EQ(e.dr6, kDr6Fixed | (1u << i));
    EXPECT_EQ(e.addr, kData);
    EXPECT_EQ(e.len, 4u);
    ASSERT_TRUE(e.has_values);
    const std::uint32_t before = i == 0 ? 0 : 1234;
    EXPECT_EQ(std::memcmp(e.old_bytes.data(), &before, 4), 0);
    const std::uint32_t after = 1234;
    EXPECT_EQ(std::memcmp(e.new_bytes.data(), &after, 4), 0);
    dbg.remove(id);
    dbg.remove(dummies);
    set_rip(dbg, at(g_store));  // the selftest's rip rewind: store again
  }
  dbg.detach();
}

// The same case with write trapping instead of a debug register: same pc, exact bytes, on every
// backend with read-only memslots (kvm_pvm, which reports no data hits, included).
TEST(DebugRegsSelftest, WriteWatchByWriteTrapping) {
  HWBP_KVM_REQUIRE_FEATURE(Feature::trapped_stores);
  TestVm vm;
  vm.enter(0, at(g_hw_bp) + 1, kData);
  GuestDebugger dbg(vm.handles());
  for (unsigned i = 0; i < 4; ++i) {
    SCOPED_TRACE("store " + std::to_string(i));
    const auto id = dbg.add(WatchSpec{kData, 4, Access::write, Engine::write_trap});
    const GuestStop s = vm.run(0, &dbg);
    EXPECT_STOP(s, events);
    ASSERT_EQ(s.events.size(), 1u) << s.describe();
    const auto& e = s.events[0];
    EXPECT_EQ(e.kind, EventKind::data);
    EXPECT_EQ(e.engine, Engine::write_trap);
    EXPECT_EQ(e.pc, at(g_write_data));
    EXPECT_EQ(e.addr, kData);
    EXPECT_EQ(e.len, 4u);
    EXPECT_EQ(e.guest_phys, kData);
    const std::uint32_t before = i == 0 ? 0 : 1234, after = 1234;
    EXPECT_EQ(std::memcmp(e.old_bytes.data(), &before, 4), 0);
    EXPECT_EQ(std::memcmp(e.new_bytes.data(), &after, 4), 0);
    EXPECT_EQ(vm.load<std::uint64_t>(kData), 1234u) << "the trapped store was applied to guest RAM";
    dbg.remove(id);
    set_rip(dbg, at(g_store));
  }
}

// Selftest case 4: six single-steps with KVM_GUESTDBG_BLOCKIRQ over sti; xor; cpuid; mov; wrmsr;
// cli, with a self-IPI pending: no step may enter its handler. cpuid and wrmsr are completed
// by KVM itself.
TEST(DebugRegsSelftest, SixSingleStepsWithBlockIrq) {
  HWBP_KVM_REQUIRE_FEATURE(Feature::block_irq);
  TestVm vm;
  vm.enter(0, at(g_selftest), kData);
  GuestDebugger dbg(vm.handles());
  // Run the preamble (x2APIC, the pending IPI) up to the selftest's first case.
  const auto stop_at = dbg.add(WatchSpec{at(g_sw_bp), 1, Access::exec});
  GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, events);
  ASSERT_EQ(s.events.at(0).pc, at(g_sw_bp));
  dbg.remove(stop_at);
  set_rip(dbg, at(g_ss_start));
  dbg.single_step(0, true);
  const unsigned lengths[] = {1, 2, 2, 5, 2, 1};
  std::uint64_t pc = at(g_ss_start);
  for (unsigned i = 0; i < 6; ++i) {
    SCOPED_TRACE("step " + std::to_string(i + 1));
    pc += lengths[i];
    s = vm.run(0, &dbg);
    EXPECT_STOP(s, events);
    ASSERT_EQ(s.events.size(), 1u) << s.describe();
    EXPECT_EQ(s.events[0].kind, EventKind::step);
    EXPECT_EQ(s.events[0].pc, pc);
    EXPECT_EQ(s.events[0].dr6, 0xffff4ff0u);
    EXPECT_EQ(dbg.applied_state(0).control & KVM_GUESTDBG_BLOCKIRQ,
              static_cast<unsigned>(KVM_GUESTDBG_BLOCKIRQ));
  }
  dbg.single_step(0, false);
}

// Selftest case 5: DR7.GD makes the guest's mov from DR0 exit before it runs, dr6 = BD.
TEST(DebugRegsSelftest, GeneralDetectExitsBeforeTheMovFromDr0) {
  HWBP_KVM_REQUIRE_FEATURE(Feature::general_detect_exits);
  TestVm vm;
  vm.enter(0, at(g_bd_start), kData);
  GuestDebugger dbg(vm.handles());
  dbg.detect_debug_register_access(true);
  const GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, events);
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].kind, EventKind::debug_register_access);
  EXPECT_EQ(s.events[0].pc, at(g_bd_start));
  EXPECT_EQ(s.events[0].dr6, 0xffff2ff0u);
}

// Selftest case 6: with debugging off again the guest runs to its end (an I/O exit).
TEST(DebugRegsSelftest, DebugOffEndsInTheGuestsIoExit) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  vm.enter(0, at(g_bd_start), kData);
  GuestDebugger dbg(vm.handles());
  dbg.add(WatchSpec{at(g_unreached), 1, Access::exec});
  dbg.single_step(0, true);
  EXPECT_NE(dbg.applied_state(0).control, 0u);
  dbg.detach();
  EXPECT_EQ(dbg.applied_state(0).control, 0u);
  const GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, done);
  EXPECT_EQ(vm.exits(KVM_EXIT_DEBUG), 0u);
}

}  // namespace
}  // namespace hwbp::test::kvm
