// What the debug_regs selftest does not cover, through hwbp::kvm: read-write hits, lengths
// 1/2/8, two debug registers in one exit, stepping over a breakpoint without losing it, the
// guest's own debug registers and #DB under the debugger, several vCPUs.
#include <gtest/gtest.h>
#include <sys/ioctl.h>

#include <thread>

#include "support/guest_test_support.hpp"

namespace hwbp::test::kvm {
namespace {

using hwbp::kvm::Engine;
using hwbp::kvm::EventKind;
using hwbp::kvm::Feature;
using hwbp::kvm::GuestDebugger;
using hwbp::kvm::WatchSpec;

constexpr std::uint64_t kDr6Fixed = 0xffff0ff0;
constexpr std::uint64_t kDr6Step = 0xffff4ff0;

template <class T>
T bytes_as(const std::array<std::uint8_t, 8>& b) {
  T v;
  std::memcpy(&v, b.data(), sizeof v);
  return v;
}

// A read-write watch fires on a load: pc after the load, the bytes unchanged.
TEST(GuestDataWatch, ReadWriteWatchFiresOnALoad) {
  HWBP_KVM_REQUIRE_FEATURE(Feature::data_hits);
  TestVm vm;
  vm.store<std::uint64_t>(kData + 8, 0x1122334455667788);
  vm.enter(0, at(g_after_quad), kData);  // mov 8(%rdi), %rbx
  GuestDebugger dbg(vm.handles());
  const auto id = dbg.add(WatchSpec{kData + 8, 8, Access::read_write});
  const GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, events);
  ASSERT_EQ(s.events.size(), 1u) << s.describe();
  const auto& e = s.events[0];
  EXPECT_EQ(e.kind, EventKind::data);
  EXPECT_EQ(e.watch, id);
  EXPECT_EQ(e.pc, at(g_after_read));
  EXPECT_EQ(e.dr6, kDr6Fixed | 1);
  EXPECT_EQ(e.addr, kData + 8);
  EXPECT_EQ(e.len, 8u);
  ASSERT_TRUE(e.has_values);
  EXPECT_EQ(bytes_as<std::uint64_t>(e.old_bytes), 0x1122334455667788u);
  EXPECT_EQ(bytes_as<std::uint64_t>(e.new_bytes), 0x1122334455667788u);
  EXPECT_STOP(vm.run(0, &dbg), done);
}

// 1-, 2- and 8-byte write watches: each store reports its own watch with exact values; a
// store next to the watches (4 bytes at +4) reports nothing. The same with write trapping.
void lengths_one_two_eight(Engine engine) {
  TestVm vm;
  vm.enter(0, at(g_sizes), kData, 0, 0, /*rax=*/0xa1b2c3d4e5f60718);
  GuestDebugger dbg(vm.handles());
  const auto byte = dbg.add(WatchSpec{kData, 1, Access::write, engine});
  const auto word = dbg.add(WatchSpec{kData + 2, 2, Access::write, engine});
  const auto quad = dbg.add(WatchSpec{kData + 8, 8, Access::write, engine});
  struct Expected {
    hwbp::kvm::WatchId watch;
    const char* after;
    std::uint64_t addr, len, value;
  } expected[] = {{byte, g_after_byte, kData, 1, 0x11},
                  {word, g_after_word, kData + 2, 2, 0x2222},
                  {quad, g_after_quad, kData + 8, 8, 0xa1b2c3d4e5f60718}};
  for (const Expected& x : expected) {
    SCOPED_TRACE(std::to_string(x.len) + "-byte watch");
    const GuestStop s = vm.run(0, &dbg);
    EXPECT_STOP(s, events);
    ASSERT_EQ(s.events.size(), 1u) << s.describe();
    const auto& e = s.events[0];
    EXPECT_EQ(e.watch, x.watch);
    EXPECT_EQ(e.engine, engine);
    EXPECT_EQ(e.pc, at(x.after));
    EXPECT_EQ(e.addr, x.addr);
    EXPECT_EQ(e.len, x.len);
    ASSERT_TRUE(e.has_values);
    std::uint64_t old_value = 0, new_value = 0;
    std::memcpy(&old_value, e.old_bytes.data(), x.len);
    std::memcpy(&new_value, e.new_bytes.data(), x.len);
    EXPECT_EQ(old_value, 0u);
    EXPECT_EQ(new_value, x.value);
  }
  EXPECT_STOP(vm.run(0, &dbg), done);
  EXPECT_EQ(vm.load<std::uint32_t>(kData + 4), 0x33333333u);
}

// Issue 17: a debug-register hit's bytes are read at the exit, while the guest's other vCPUs
// run on: with a second vCPU they are marked not exact (and a modify watch passes the hit);
// with one vCPU nothing else stores between the trap and the read. Write trapping is exact.
TEST(GuestDataWatch, HardwareHitValuesAreExactOnlyWithOneVcpu) {
  HWBP_KVM_REQUIRE_FEATURE(Feature::data_hits);
  HWBP_KVM_REQUIRE_FEATURE(Feature::trapped_stores);
  for (unsigned cpus : {1u, 2u}) {
    for (Engine engine : {Engine::hardware, Engine::write_trap}) {
      SCOPED_TRACE(std::to_string(cpus) + " vCPUs, " + (engine == Engine::hardware ? "debug registers" : "write trapping"));
      TestVm vm(TestVm::Options{cpus});
      vm.enter(0, at(g_sizes), kData, 0, 0, /*rax=*/0xa1b2c3d4e5f60718);
      if (cpus == 2) vm.enter(1, at(g_loop), kData2, 0, 2);
      GuestDebugger dbg(vm.handles());
      dbg.add(WatchSpec{kData + 8, 8, Access::modify, engine});
      const GuestStop s = vm.run(0, &dbg);
      EXPECT_STOP(s, events);
      ASSERT_EQ(s.events.size(), 1u) << s.describe();
      const auto& e = s.events[0];
      ASSERT_TRUE(e.has_values);
      EXPECT_EQ(bytes_as<std::uint64_t>(e.new_bytes), 0xa1b2c3d4e5f60718u);
      EXPECT_EQ(e.values_exact, cpus == 1 || engine == Engine::write_trap);
    }
  }
}

TEST(GuestDataWatch, LengthsOneTwoEightWithDebugRegisters) {
  HWBP_KVM_REQUIRE_FEATURE(Feature::data_hits);
  lengths_one_two_eight(Engine::hardware);
}

TEST(GuestDataWatch, LengthsOneTwoEightWithWriteTrapping) {
  HWBP_KVM_REQUIRE_FEATURE(Feature::trapped_stores);
  lengths_one_two_eight(Engine::write_trap);
}

// One 8-byte store over a 4-byte and a 2-byte watch: one exit, DR6 with two bits, two events.
TEST(GuestDataWatch, TwoDebugRegistersInOneExit) {
  HWBP_KVM_REQUIRE_FEATURE(Feature::data_hits);
  TestVm vm;
  vm.enter(0, at(g_after_long), kData, 0, 0, /*rax=*/0x0102030405060708);  // mov %rax, 8(%rdi)
  GuestDebugger dbg(vm.handles());
  const auto low = dbg.add(WatchSpec{kData + 8, 4, Access::write});
  const auto high = dbg.add(WatchSpec{kData + 12, 2, Access::modify});
  const GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, events);
  ASSERT_EQ(s.events.size(), 2u) << s.describe();
  EXPECT_EQ(vm.exits(KVM_EXIT_DEBUG), 1u);
  EXPECT_EQ(s.events[0].dr6, kDr6Fixed | 0x3);
  EXPECT_EQ(s.events[0].watch, low);
  EXPECT_EQ(s.events[0].slot, 0);
  EXPECT_EQ(bytes_as<std::uint32_t>(s.events[0].new_bytes), 0x05060708u);
  EXPECT_EQ(s.events[1].watch, high);
  EXPECT_EQ(s.events[1].slot, 1);
  EXPECT_EQ(bytes_as<std::uint16_t>(s.events[1].new_bytes), 0x0304u);
  for (const auto& e : s.events) EXPECT_EQ(e.pc, at(g_after_quad));
}

// read on x86: a read-write debug register whose hits that changed the bytes are dropped (a
// same-value store would count as a read: docs/semantics.md).
TEST(GuestDataWatch, ReadWatchReportsTheLoadNotTheStore) {
  HWBP_KVM_REQUIRE_FEATURE(Feature::data_hits);
  TestVm vm;
  vm.enter(0, at(g_after_long), kData, 0, 0, /*rax=*/0x55);  // store 8(%rdi), then load it
  GuestDebugger dbg(vm.handles());
  const auto id = dbg.add(WatchSpec{kData + 8, 8, Access::read});
  EXPECT_EQ(dbg.watches().at(0).engine, Engine::hardware);
  const GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, events);
  ASSERT_EQ(s.events.size(), 1u) << s.describe();
  EXPECT_EQ(s.events[0].watch, id);
  EXPECT_EQ(s.events[0].pc, at(g_after_read)) << "the load, not the store before it";
  EXPECT_EQ(bytes_as<std::uint64_t>(s.events[0].old_bytes), 0x55u);
  EXPECT_STOP(vm.run(0, &dbg), done);
}

// Identical chunks share one debug register: two breakpoints on one instruction take one slot,
// and its hit is reported for both.
TEST(GuestBreakpoint, IdenticalBreakpointsShareOneDebugRegister) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  vm.enter(0, at(g_loop), kData, 0, 1);
  GuestDebugger dbg(vm.handles());
  const auto a = dbg.add(WatchSpec{at(g_loop_bp), 1, Access::exec});
  const auto b = dbg.add(WatchSpec{at(g_loop_bp), 1, Access::exec});
  const auto infos = dbg.watches();
  ASSERT_EQ(infos.size(), 2u);
  EXPECT_EQ(infos[0].slots, infos[1].slots);
  EXPECT_EQ(dbg.applied_state(0).arch.debugreg[7] & 0xff, 0x2u) << "one enabled register";
  const GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, events);
  ASSERT_EQ(s.events.size(), 2u) << s.describe();
  EXPECT_EQ(s.events[0].watch, a);
  EXPECT_EQ(s.events[1].watch, b);
  dbg.remove(a);  // the register stays for b
  EXPECT_EQ(dbg.applied_state(0).arch.debugreg[7] & 0xff, 0x2u);
}

// A breakpoint in a loop fires on every iteration: the library steps over it with its slot
// disabled (KVM's emulator and the test VM ignore RF) and puts it back.
TEST(GuestBreakpoint, FiresOnEveryIterationOfALoop) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  vm.enter(0, at(g_loop), kData, 0, /*rcx=*/5);
  GuestDebugger dbg(vm.handles());
  const auto id = dbg.add(WatchSpec{at(g_loop_bp), 1, Access::exec});
  for (unsigned i = 0; i < 5; ++i) {
    SCOPED_TRACE("iteration " + std::to_string(i));
    const GuestStop s = vm.run(0, &dbg);
    EXPECT_STOP(s, events);
    ASSERT_EQ(s.events.size(), 1u) << s.describe();
    EXPECT_EQ(s.events[0].watch, id);
    EXPECT_EQ(s.events[0].pc, at(g_loop_bp));
    EXPECT_EQ(vm.load<std::uint64_t>(kData), i) << "the breakpoint fires before the iteration's count";
  }
  EXPECT_STOP(vm.run(0, &dbg), done);
  EXPECT_EQ(vm.load<std::uint64_t>(kData), 5u);
}

// Single-stepping at a breakpoint keeps it: crosvm and cloud-hypervisor send an empty
// breakpoint list with SINGLESTEP, so their breakpoints are gone after a step. Here the full
// state is composed every time.
TEST(GuestBreakpoint, SteppingDoesNotDropTheBreakpoint) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  vm.enter(0, at(g_loop), kData, 0, /*rcx=*/3);
  GuestDebugger dbg(vm.handles());
  const auto id = dbg.add(WatchSpec{at(g_loop_bp), 1, Access::exec});
  GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, events);
  ASSERT_EQ(s.events.at(0).watch, id);
  dbg.single_step(0, true);
  // nop, incq, dec, jnz: four steps, back at the breakpoint's address.
  const std::uint64_t after[] = {at(g_loop_bp) + 1, at(g_loop_bp) + 4, at(g_loop_bp) + 7, at(g_loop)};
  for (std::uint64_t pc : after) {
    s = vm.run(0, &dbg);
    EXPECT_STOP(s, events);
    ASSERT_EQ(s.events.size(), 1u) << s.describe();
    EXPECT_EQ(s.events[0].kind, EventKind::step);
    EXPECT_EQ(s.events[0].pc, pc);
    EXPECT_EQ(s.events[0].dr6 & kDr6Step, kDr6Step);
    // Every state applied while stepping still holds the breakpoint.
    const kvm_guest_debug applied = dbg.applied_state(0);
    EXPECT_TRUE(applied.control & KVM_GUESTDBG_USE_HW_BP);
    EXPECT_EQ(applied.arch.debugreg[0], at(g_loop_bp));
  }
  dbg.single_step(0, false);
  s = vm.run(0, &dbg);
  EXPECT_STOP(s, events);
  ASSERT_EQ(s.events.size(), 1u) << s.describe();
  EXPECT_EQ(s.events[0].kind, EventKind::breakpoint) << "the breakpoint survived the steps";
  EXPECT_EQ(s.events[0].pc, at(g_loop_bp));
  EXPECT_EQ(vm.load<std::uint64_t>(kData), 1u);
}

// The guest's own breakpoint (DR0/DR7 set by the guest) is inert while the debugger owns the
// debug registers, KVM_GET_DEBUGREGS shows the guest's values throughout, and after detach the
// guest's breakpoint fires into its own #DB handler again.
TEST(GuestOwnDebugging, GuestBreakpointInertUnderTheDebuggerLiveAfterDetach) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  const std::uint64_t target = at(g_guest_bp_target);
  vm.enter(0, at(g_guest_bp_setup), target);
  // Without a debugger: the guest arms DR0 itself and takes its own #DB at the target.
  EXPECT_STOP(vm.run(0), mark);
  GuestStop s = vm.run(0);
  EXPECT_STOP(s, report);
  EXPECT_EQ(s.vector, 1u);
  EXPECT_EQ(s.rip, target);
  EXPECT_EQ(s.dr6 & 0xf, 1u) << "the guest's DR6 names its DR0";
  EXPECT_STOP(vm.run(0), mark);

  {
    GuestDebugger dbg(vm.handles());
    dbg.add(WatchSpec{at(g_unreached), 1, Access::exec});  // the debugger takes the registers
    for (int round = 0; round < 3; ++round) {
      s = vm.run(0, &dbg);
      EXPECT_STOP(s, mark) << "round " << round << ": the guest's breakpoint must stay inert";
    }
    const kvm_debugregs guest = vm.debugregs(0);
    EXPECT_EQ(guest.db[0], target) << "KVM_GET_DEBUGREGS shows the guest's own DR0";
    EXPECT_EQ(guest.dr7 & 0xff, 0x2u) << "and the guest's DR7 (G0)";
    dbg.detach();
    EXPECT_EQ(vm.debugregs(0).db[0], target);
  }
  s = vm.run(0);
  EXPECT_STOP(s, report) << "the guest's breakpoint is live again after detach";
  EXPECT_EQ(s.vector, 1u);
  EXPECT_EQ(s.rip, target);
}

// The guest single-steps itself with TF. With the debugger attached every #DB exits to the
// VMM; the library gives the guest's back, with DR6 = BS, at the right rips — the same six
// traps the guest takes without a debugger.
std::vector<GuestStop> guest_tf_reports(TestVm& vm, GuestDebugger* dbg, unsigned* debug_exits) {
  vm.enter(0, at(g_guest_tf));
  std::vector<GuestStop> reports;
  for (;;) {
    GuestStop s = vm.run(0, dbg);
    *debug_exits += vm.exits(KVM_EXIT_DEBUG);
    if (s.kind != GuestStop::Kind::report) {
      EXPECT_EQ(s.kind, GuestStop::Kind::done) << s.describe();
      return reports;
    }
    reports.push_back(s);
  }
}

TEST(GuestOwnDebugging, GuestSingleStepIsGivenBackToTheGuest) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  unsigned exits_alone = 0, exits_debugged = 0;
  const std::vector<GuestStop> alone = guest_tf_reports(vm, nullptr, &exits_alone);
  GuestDebugger dbg(vm.handles());
  dbg.add(WatchSpec{at(g_unreached), 1, Access::exec});
  const std::vector<GuestStop> debugged = guest_tf_reports(vm, &dbg, &exits_debugged);
  const char* rips[] = {g_tf_2, g_tf_3, g_tf_4, g_tf_5, g_tf_6, g_tf_end};
  for (const auto* reports : {&alone, &debugged}) {
    SCOPED_TRACE(reports == &alone ? "without the debugger" : "with the debugger");
    ASSERT_EQ(reports->size(), 6u);
    for (std::size_t i = 0; i < 6; ++i) {
      EXPECT_EQ((*reports)[i].vector, 1u);
      EXPECT_EQ((*reports)[i].rip, at(rips[i])) << "trap " << i;
      EXPECT_EQ((*reports)[i].dr6 & 0x4000, 0x4000u) << "trap " << i << ": DR6.BS";
    }
  }
  EXPECT_EQ(exits_alone, 0u);
  EXPECT_EQ(exits_debugged, 6u) << "each of the guest's #DB went through the VMM and back";
}

// ICEBP (int1) is a #DB with no DR6 bit: not the debugger's, given back to the guest.
TEST(GuestOwnDebugging, IcebpIsGivenBackToTheGuest) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  vm.enter(0, at(g_icebp));
  GuestDebugger dbg(vm.handles());
  dbg.add(WatchSpec{at(g_unreached), 1, Access::exec});
  GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, report);
  EXPECT_EQ(s.vector, 1u);
  EXPECT_EQ(s.rip, at(g_after_icebp));
  EXPECT_STOP(vm.run(0, &dbg), done);
}

// The same set on every vCPU: both vCPUs hit the same breakpoint and the same watch.
TEST(GuestMultiVcpu, EveryVcpuGetsTheSameSet) {
  HWBP_KVM_REQUIRE();
  TestVm vm(TestVm::Options{2});
  vm.enter(0, at(g_loop), kData, 0, 2);
  vm.enter(1, at(g_loop), kData2, 0, 2);
  GuestDebugger dbg(vm.handles());
  dbg.add(WatchSpec{at(g_loop_bp), 1, Access::exec});
  const kvm_guest_debug a = dbg.applied_state(0), b = dbg.applied_state(1);
  EXPECT_EQ(a.control, b.control);
  EXPECT_EQ(std::memcmp(&a.arch, &b.arch, sizeof a.arch), 0);
  std::vector<GuestStop> stops[2];
  auto drive = [&](unsigned cpu) {
    for (int i = 0; i < 3; ++i) stops[cpu].push_back(vm.run(cpu, &dbg));
  };
  std::thread t0(drive, 0), t1(drive, 1);
  t0.join();
  t1.join();
  for (unsigned cpu = 0; cpu < 2; ++cpu) {
    SCOPED_TRACE("vCPU " + std::to_string(cpu));
    ASSERT_EQ(stops[cpu].size(), 3u);
    for (int i = 0; i < 2; ++i) {
      ASSERT_EQ(stops[cpu][i].kind, GuestStop::Kind::events) << stops[cpu][i].describe();
      EXPECT_EQ(stops[cpu][i].events.at(0).vcpu, cpu);
      EXPECT_EQ(stops[cpu][i].events.at(0).pc, at(g_loop_bp));
    }
    EXPECT_EQ(stops[cpu][2].kind, GuestStop::Kind::done) << stops[cpu][2].describe();
  }
}

}  // namespace
}  // namespace hwbp::test::kvm

namespace hwbp::test::kvm {
namespace {

// The library walks the guest's page tables itself (no ioctl on hot paths); KVM_TRANSLATE is
// the reference: 4 KiB pages, the alias window, the 2 MiB page, the APIC page.
TEST(GuestMemory, PageWalkAgreesWithKvmTranslate) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  GuestDebugger dbg(vm.handles());
  for (std::uint64_t va : {at(g_loop), kData + 0x123, kAliasVirtual + 0x7654, kRegion2 + 0x1ff000 + 8,
                           std::uint64_t{0xfee000b0}}) {
    kvm_translation t{};
    t.linear_address = va;
    ASSERT_EQ(::ioctl(vm.vcpu_fd(0), KVM_TRANSLATE, &t), 0);
    ASSERT_TRUE(t.valid) << std::hex << va;
    EXPECT_EQ(dbg.translate(0, va), t.physical_address) << std::hex << va;
  }
  std::uint8_t bytes[4];
  vm.store<std::uint32_t>(kAliasPhysical + 0x10, 0xdeadbeef);
  dbg.read_guest(0, kAliasVirtual + 0x10, bytes);
  EXPECT_EQ(bytes[0], 0xef);
  const std::uint8_t patch[] = {1, 2};
  dbg.write_guest(0, kAliasVirtual + 0xfff, patch);  // across two virtual pages
  EXPECT_EQ(vm.load<std::uint8_t>(kAliasPhysical + 0xfff), 1);
  EXPECT_EQ(vm.load<std::uint8_t>(kAliasPhysical + 0x1000), 2);
}

}  // namespace
}  // namespace hwbp::test::kvm
