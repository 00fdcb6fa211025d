// Write-trap watches: stores to the guest pages that hold watched bytes exit through a read-only
// memslot and are completed by the library with their exact bytes. Any size, any number, on
// every backend with read-only memslots — what no peer VMM offers.
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "support/guest_test_support.hpp"

namespace hwbp::test::kvm {
namespace {

using hwbp::kvm::Engine;
using hwbp::kvm::EventKind;
using hwbp::kvm::Feature;
using hwbp::kvm::GuestDebugger;
using hwbp::kvm::WatchId;
using hwbp::kvm::WatchSpec;

#define REQUIRE_WRITE_TRAPS() HWBP_KVM_REQUIRE_FEATURE(Feature::trapped_stores)

template <class T>
T value_of(const std::array<std::uint8_t, 8>& b, unsigned len) {
  T v{};
  std::memcpy(&v, b.data(), len);
  return v;
}

// A watch of 16 KiB + 3 bytes from an odd address (5 pages): a 4-byte store over its last two
// bytes reports exactly those two, values chained store after store.
TEST(WriteTrap, LargeUnalignedWatchReportsTheWatchedBytesExactly) {
  REQUIRE_WRITE_TRAPS();
  TestVm vm;
  const std::uint64_t start = kData + 5, len = 16384 + 3;
  const std::uint64_t store_at = start + len - 2;  // 2 watched bytes, then 2 outside
  vm.store<std::uint32_t>(store_at, 0xaaaa0000);
  vm.enter(0, at(g_count_stores), 0, store_at, /*rcx=*/3);
  GuestDebugger dbg(vm.handles());
  const WatchId id = dbg.add(WatchSpec{start, len, Access::write, Engine::write_trap});
  const auto info = dbg.watches().at(0);
  EXPECT_EQ(info.engine, Engine::write_trap);
  EXPECT_EQ(info.pages.size(), 5u);
  std::uint16_t previous = 0x0000;
  for (std::uint32_t value : {3u, 2u, 1u}) {
    const GuestStop s = vm.run(0, &dbg);
    EXPECT_STOP(s, events);
    ASSERT_EQ(s.events.size(), 1u) << s.describe();
    const auto& e = s.events[0];
    EXPECT_EQ(e.watch, id);
    EXPECT_EQ(e.addr, store_at);
    EXPECT_EQ(e.len, 2u);
    EXPECT_EQ(e.pc, at(g_count_after));
    EXPECT_EQ(value_of<std::uint16_t>(e.old_bytes, 2), previous);
    EXPECT_EQ(value_of<std::uint16_t>(e.new_bytes, 2), value);
    previous = static_cast<std::uint16_t>(value);
  }
  EXPECT_STOP(vm.run(0, &dbg), done);
  EXPECT_EQ(vm.load<std::uint32_t>(store_at), 1u) << "every store was applied, the unwatched half too";
}

// A hundred watches on one page: a store reports the one it touches, and only it.
TEST(WriteTrap, HundredWatchesEachReportsItsOwnStores) {
  REQUIRE_WRITE_TRAPS();
  TestVm vm;
  GuestDebugger dbg(vm.handles());
  std::vector<WatchSpec> specs;
  for (unsigned i = 0; i < 100; ++i)
    specs.push_back(WatchSpec{kData + 40 * i, 4, Access::write, Engine::write_trap});
  const std::vector<WatchId> ids = dbg.add(specs);
  ASSERT_EQ(ids.size(), 100u);
  for (unsigned target : {0u, 37u, 99u}) {
    SCOPED_TRACE("watch " + std::to_string(target));
    vm.enter(0, at(g_count_stores), 0, kData + 40 * target, 1);
    const GuestStop s = vm.run(0, &dbg);
    EXPECT_STOP(s, events);
    ASSERT_EQ(s.events.size(), 1u) << s.describe();
    EXPECT_EQ(s.events[0].watch, ids[target]);
    EXPECT_STOP(vm.run(0, &dbg), done);
  }
  // Bytes between two watches: trapped (same page), applied, not reported.
  vm.enter(0, at(g_count_stores), 0, kData + 40 * 5 + 8, 1);
  const GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, done);
  EXPECT_TRUE(s.events.empty());
  EXPECT_EQ(vm.exits(KVM_EXIT_MMIO), 1u);
  EXPECT_EQ(vm.load<std::uint32_t>(kData + 40 * 5 + 8), 1u);
}

// modify: a store of the bytes already there is applied and not reported; w reports it.
TEST(WriteTrap, ModifySkipsSameValueStoresWriteReportsThem) {
  REQUIRE_WRITE_TRAPS();
  TestVm vm;
  vm.store<std::uint32_t>(kData, 1);
  GuestDebugger dbg(vm.handles());
  const WatchId modify = dbg.add(WatchSpec{kData, 4, Access::modify, Engine::write_trap});
  vm.enter(0, at(g_count_stores), 0, kData, 1);  // stores 1 over 1
  GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, done);
  EXPECT_TRUE(s.events.empty());
  EXPECT_EQ(vm.exits(KVM_EXIT_MMIO), 1u) << "the store was trapped";
  dbg.remove(modify);
  const WatchId write = dbg.add(WatchSpec{kData, 4, Access::write, Engine::write_trap});
  vm.enter(0, at(g_count_stores), 0, kData, 1);
  s = vm.run(0, &dbg);
  EXPECT_STOP(s, events);
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].watch, write);
  EXPECT_EQ(value_of<std::uint32_t>(s.events[0].old_bytes, 4), 1u);
  EXPECT_EQ(value_of<std::uint32_t>(s.events[0].new_bytes, 4), 1u);
}

// Loads from a trapped page never exit: a read-only memslot is still readable.
TEST(WriteTrap, ReadsOfATrappedPageNeverExit) {
  REQUIRE_WRITE_TRAPS();
  TestVm vm;
  vm.store<std::uint64_t>(kData, 42);
  GuestDebugger dbg(vm.handles());
  dbg.add(WatchSpec{kData, 8, Access::write, Engine::write_trap});
  vm.enter(0, at(g_reads), kData, 0, 1000);
  const GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, done);
  EXPECT_EQ(vm.exits(KVM_EXIT_MMIO), 0u);
  EXPECT_EQ(vm.regs(0).rax, 42u);
}

// Every store shape KVM emulates is applied exactly: byte, word, long, quad, xchg (the guest
// gets the old value back), lock add, rep movsb, a 16-byte SSE store. Each event's new bytes are
// what the page holds at the end; every written byte is reported once.
TEST(WriteTrap, EveryStoreShapeIsAppliedAndReportedExactly) {
  REQUIRE_WRITE_TRAPS();
  TestVm vm;
  constexpr std::uint64_t kSource = kData2;
  for (unsigned i = 0; i < 16; ++i) {
    vm.store<std::uint8_t>(kSource + i, static_cast<std::uint8_t>(0xc0 + i));
    vm.store<std::uint8_t>(kSource + 16 + i, static_cast<std::uint8_t>(0x50 + i));  // xmm0
  }
  vm.store<std::uint64_t>(kData + 16, 0x1111111111111111);
  vm.store<std::uint32_t>(kData + 24, 100);
  vm.enter(0, at(g_shapes), kData, kSource, 0, /*rax=*/0x0807060504030201, /*rbx=*/0x2222222222222222);
  GuestDebugger dbg(vm.handles());
  dbg.add(WatchSpec{kData, 64, Access::write, Engine::write_trap});
  std::vector<hwbp::kvm::Event> events;
  for (;;) {
    const GuestStop s = vm.run(0, &dbg);
    if (s.kind == GuestStop::Kind::done) break;
    ASSERT_EQ(s.kind, GuestStop::Kind::events) << s.describe();
    events.insert(events.end(), s.events.begin(), s.events.end());
  }
  EXPECT_EQ(vm.load<std::uint8_t>(kData), 0x01);
  EXPECT_EQ(vm.load<std::uint16_t>(kData + 2), 0x0202);
  EXPECT_EQ(vm.load<std::uint32_t>(kData + 4), 0x03030303u);
  EXPECT_EQ(vm.load<std::uint64_t>(kData + 8), 0x0807060504030201u);
  EXPECT_EQ(vm.load<std::uint64_t>(kData + 16), 0x2222222222222222u);
  EXPECT_EQ(vm.regs(0).rbx, 0x1111111111111111u) << "xchg handed the guest the old value";
  EXPECT_EQ(vm.load<std::uint32_t>(kData + 24), 105u);
  for (unsigned i = 0; i < 16; ++i) {
    EXPECT_EQ(vm.load<std::uint8_t>(kData + 32 + i), 0xc0 + i) << "rep movsb byte " << i;
    EXPECT_EQ(vm.load<std::uint8_t>(kData + 48 + i), 0x50 + i) << "movdqu byte " << i;
  }
  unsigned reported = 0;
  for (const auto& e : events) {
    reported += e.len;
    for (unsigned i = 0; i < e.len; ++i)
      EXPECT_EQ(e.new_bytes[i], vm.load<std::uint8_t>(e.addr + i)) << "event at 0x" << std::hex << e.addr;
  }
  EXPECT_EQ(reported, 1u + 2 + 4 + 8 + 8 + 4 + 16 + 16);
  // xchg and lock add report the old bytes they replaced.
  bool saw_xchg = false, saw_add = false;
  for (const auto& e : events) {
    if (e.addr == kData + 16 && e.len == 8)
      saw_xchg = value_of<std::uint64_t>(e.old_bytes, 8) == 0x1111111111111111;
    if (e.addr == kData + 24 && e.len == 4) saw_add = value_of<std::uint32_t>(e.old_bytes, 4) == 100;
  }
  EXPECT_TRUE(saw_xchg);
  EXPECT_TRUE(saw_add);
}

// A watch where virtual and physical addresses differ reports the virtual address, traps the
// physical page.
TEST(WriteTrap, VirtualAddressIsReportedPhysicalPageIsTrapped) {
  REQUIRE_WRITE_TRAPS();
  TestVm vm;
  const std::uint64_t va = kAliasVirtual + 0x3010, pa = kAliasPhysical + 0x3010;
  GuestDebugger dbg(vm.handles());
  EXPECT_EQ(dbg.translate(0, va), pa);
  const WatchId id = dbg.add(WatchSpec{va, 4, Access::write, Engine::write_trap});
  EXPECT_EQ(dbg.watches().at(0).pages, std::vector<std::uint64_t>{pa & ~0xfffull});
  vm.enter(0, at(g_count_stores), 0, va, 1);
  const GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, events);
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].watch, id);
  EXPECT_EQ(s.events[0].addr, va);
  EXPECT_EQ(s.events[0].guest_phys, pa);
  EXPECT_EQ(vm.load<std::uint32_t>(pa), 1u);
}

// The second RAM region (memslot 1), mapped by a 2 MiB page: its memslot is the one split.
TEST(WriteTrap, SecondRegionBehindALargePage) {
  REQUIRE_WRITE_TRAPS();
  TestVm vm;
  const std::uint64_t a = kRegion2 + 0x12344;
  GuestDebugger dbg(vm.handles());
  const WatchId id = dbg.add(WatchSpec{a, 4, Access::modify, Engine::write_trap});
  vm.enter(0, at(g_count_stores), 0, a, 2);
  for (std::uint32_t value : {2u, 1u}) {
    const GuestStop s = vm.run(0, &dbg);
    EXPECT_STOP(s, events);
    EXPECT_EQ(s.events.at(0).watch, id);
    EXPECT_EQ(value_of<std::uint32_t>(s.events.at(0).new_bytes, 4), value);
  }
  EXPECT_STOP(vm.run(0, &dbg), done);
}

// The guest remaps a watched virtual page: the library notices at the next exit (a
// mapping_changed event; stores to the new page are not seen until then), and rebind() moves
// the trap to the new page.
TEST(WriteTrap, GuestPageTableChangeIsReportedAndRebound) {
  REQUIRE_WRITE_TRAPS();
  TestVm vm;
  const std::uint64_t va = kAliasVirtual, old_pa = kAliasPhysical, new_pa = kAliasPhysical + 0x1000;
  GuestDebugger dbg(vm.handles());
  const WatchId id = dbg.add(WatchSpec{va, 4, Access::write, Engine::write_trap});
  vm.enter(0, at(g_remap), vm.alias_pte_address(0), new_pa | 0x3, 0, 0, 0, /*rdx=*/va);
  GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, done);
  ASSERT_EQ(s.events.size(), 1u) << "the remap is reported at the next exit";
  EXPECT_EQ(s.events[0].kind, EventKind::mapping_changed);
  EXPECT_EQ(s.events[0].watch, id);
  EXPECT_EQ(s.events[0].addr, va);
  EXPECT_EQ(s.events[0].guest_phys, new_pa);
  EXPECT_EQ(vm.load<std::uint32_t>(new_pa), 0x77u);
  EXPECT_EQ(dbg.rebind(), std::vector<WatchId>{id});
  EXPECT_EQ(dbg.watches().at(0).pages, std::vector<std::uint64_t>{new_pa});
  s = vm.run(0, &dbg);  // g_remap_store: 0x88 over 0x77 through the new mapping
  EXPECT_STOP(s, events);
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].guest_phys, new_pa);
  EXPECT_EQ(value_of<std::uint32_t>(s.events[0].old_bytes, 4), 0x77u);
  EXPECT_EQ(value_of<std::uint32_t>(s.events[0].new_bytes, 4), 0x88u);
  (void)old_pa;
}

// A debug-register watch on a page that write trapping holds: the store is emulated by KVM,
// whose emulator checks no data breakpoints, so the library reports it from the trapped store.
TEST(WriteTrap, DebugRegisterWatchOnATrappedPageStillReports) {
  REQUIRE_WRITE_TRAPS();
  HWBP_KVM_REQUIRE_FEATURE(Feature::data_hits);
  TestVm vm;
  GuestDebugger dbg(vm.handles());
  const WatchId trapped = dbg.add(WatchSpec{kData, 4, Access::write, Engine::write_trap});
  const WatchId hardware = dbg.add(WatchSpec{kData + 8, 4, Access::write, Engine::hardware});
  vm.enter(0, at(g_count_stores), 0, kData + 8, 1);
  const GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, events);
  ASSERT_EQ(s.events.size(), 1u) << s.describe();
  EXPECT_EQ(s.events[0].watch, hardware);
  EXPECT_EQ(s.events[0].engine, Engine::hardware);
  EXPECT_EQ(s.events[0].pc, at(g_count_after));
  EXPECT_EQ(value_of<std::uint32_t>(s.events[0].new_bytes, 4), 1u);
  (void)trapped;
}

// Engine::automatic: debug registers where the backend reports data hits and they have room,
// write trapping otherwise (full slots, or a backend like kvm_pvm that reports no data hits).
TEST(WriteTrap, AutomaticTakesWriteTrappingWhenDebugRegistersCannot) {
  REQUIRE_WRITE_TRAPS();
  TestVm vm;
  GuestDebugger dbg(vm.handles());
  std::vector<WatchSpec> specs;
  for (unsigned i = 0; i < 5; ++i) specs.push_back(WatchSpec{kData + 64 * i, 8, Access::modify});
  dbg.add(specs);
  const auto infos = dbg.watches();
  ASSERT_EQ(infos.size(), 5u);
  const bool data_hits = dbg.capabilities().data_hits;
  for (unsigned i = 0; i < 5; ++i) {
    const Engine expected = data_hits && i < 4 ? Engine::hardware : Engine::write_trap;
    EXPECT_EQ(infos[i].engine, expected) << "watch " << i << (data_hits ? "" : " (no data hits here)");
  }
  vm.enter(0, at(g_count_stores), 0, kData + 64 * 4, 1);
  const GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, events);
  EXPECT_EQ(s.events.at(0).engine, Engine::write_trap);
}

// Two vCPUs storing into one trapped page at once: every store of each is reported once, with
// its vCPU, values chained per counter.
TEST(WriteTrap, TwoVcpusStoringIntoOneTrappedPage) {
  REQUIRE_WRITE_TRAPS();
  TestVm vm(TestVm::Options{2});
  constexpr unsigned kStores = 40;
  vm.enter(0, at(g_count_stores), 0, kData, kStores);
  vm.enter(1, at(g_count_stores), 0, kData + 64, kStores);
  GuestDebugger dbg(vm.handles());
  dbg.add(WatchSpec{kData, 128, Access::write, Engine::write_trap});
  std::vector<hwbp::kvm::Event> seen[2];
  auto drive = [&](unsigned cpu) {
    for (;;) {
      const GuestStop s = vm.run(cpu, &dbg, 60);
      if (s.kind != GuestStop::Kind::events) {
        EXPECT_EQ(s.kind, GuestStop::Kind::done) << s.describe();
        return;
      }
      seen[cpu].insert(seen[cpu].end(), s.events.begin(), s.events.end());
    }
  };
  std::thread t0(drive, 0), t1(drive, 1);
  t0.join();
  t1.join();
  for (unsigned cpu = 0; cpu < 2; ++cpu) {
    SCOPED_TRACE("vCPU " + std::to_string(cpu));
    ASSERT_EQ(seen[cpu].size(), kStores);
    std::uint32_t previous = 0;
    for (unsigned i = 0; i < kStores; ++i) {
      const auto& e = seen[cpu][i];
      EXPECT_EQ(e.vcpu, cpu);
      EXPECT_EQ(e.addr, kData + 64 * cpu);
      EXPECT_EQ(value_of<std::uint32_t>(e.old_bytes, 4), previous);
      EXPECT_EQ(value_of<std::uint32_t>(e.new_bytes, 4), kStores - i);
      previous = kStores - i;
    }
  }
}

// Detach gives the VMM its memslots back: stores no longer exit.
TEST(WriteTrap, DetachRestoresTheMemslots) {
  REQUIRE_WRITE_TRAPS();
  TestVm vm;
  {
    GuestDebugger dbg(vm.handles());
    dbg.add(WatchSpec{kData, 4, Access::write, Engine::write_trap});
    vm.enter(0, at(g_count_stores), 0, kData, 3);
    EXPECT_STOP(vm.run(0, &dbg), events);
  }  // the destructor detaches
  GuestStop s = vm.run(0);
  EXPECT_STOP(s, done);
  EXPECT_EQ(vm.exits(KVM_EXIT_MMIO), 0u);
  EXPECT_EQ(vm.load<std::uint32_t>(kData), 1u);
}

}  // namespace
}  // namespace hwbp::test::kvm
