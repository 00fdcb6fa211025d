// Bad input is refused before anything reaches KVM, with the reason, and a refused change leaves
// the previous set armed and intact.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "support/guest_test_support.hpp"

namespace hwbp::test::kvm {
namespace {

using hwbp::kvm::Engine;
using hwbp::kvm::Feature;
using hwbp::kvm::GuestDebugger;
using hwbp::kvm::KvmError;
using hwbp::kvm::WatchSpec;

// Runs `f`, expects hwbp::Error with `code` and a message containing `words`.
template <class F>
void expect_refused(F&& f, Errc code, const std::string& words) {
  try {
    f();
    ADD_FAILURE() << "not refused; expected: " << words;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << "message: " << e.what();
  }
}

bool same_state(const kvm_guest_debug& a, const kvm_guest_debug& b) {
  return a.control == b.control && std::memcmp(&a.arch, &b.arch, sizeof a.arch) == 0;
}

// Where /dev/kvm is missing, the library says so with a typed error (this machine's case).
TEST(KvmRefusal, NoDevKvmIsATypedErrorSayingWhatToDo) {
  if (backend().usable)
    GTEST_SKIP() << "this machine has a usable /dev/kvm; the case is for machines without";
  try {
    (void)hwbp::kvm::probe();
    ADD_FAILURE() << "probe() did not throw without /dev/kvm";
  } catch (const KvmError& e) {
    EXPECT_EQ(e.missing(), Feature::dev_kvm);
    EXPECT_TRUE(e.code() == Errc::unsupported || e.code() == Errc::permission) << e.what();
    EXPECT_NE(std::string(e.what()).find("/dev/kvm"), std::string::npos) << e.what();
  }
  expect_refused(
      [] {
        GuestDebugger dbg(hwbp::kvm::Vm{3, {4}, {}});
      },
      backend().why_unusable.find("not read/write") != std::string::npos ? Errc::permission
                                                                         : Errc::unsupported,
      "/dev/kvm");
}

TEST(KvmRefusal, ClosedOrForeignFdsAreRefused) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  const hwbp::kvm::Vm good = vm.handles();
  const int dev_null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int closed = 1000;  // far above what the test and the library open, and not open
  while (::fcntl(closed, F_GETFD) >= 0) ++closed;
  auto with = [&](int vm_fd, std::vector<int> vcpus) {
    hwbp::kvm::Vm h = good;
    h.vm_fd = vm_fd;
    h.vcpu_fds = std::move(vcpus);
    return h;
  };
  expect_refused([&] { GuestDebugger d(with(closed, good.vcpu_fds)); }, Errc::invalid_request, "not open");
  expect_refused([&] { GuestDebugger d(with(dev_null, good.vcpu_fds)); }, Errc::invalid_request,
                 "not a KVM VM (/dev/null)");
  expect_refused([&] { GuestDebugger d(with(good.vcpu_fds[0], good.vcpu_fds)); }, Errc::invalid_request,
                 "not a KVM VM");
  expect_refused([&] { GuestDebugger d(with(good.vm_fd, {good.vm_fd})); }, Errc::invalid_request,
                 "not a KVM vCPU");
  expect_refused([&] { GuestDebugger d(with(good.vm_fd, {closed})); }, Errc::invalid_request, "not open");
  expect_refused(
      [&] {
        GuestDebugger d(with(good.vm_fd, {good.vcpu_fds[0], good.vcpu_fds[0]}));
      },
      Errc::invalid_request, "given twice");
  expect_refused([&] { GuestDebugger d(with(good.vm_fd, {})); }, Errc::invalid_request, "no vCPU");
  hwbp::kvm::Vm overlapping = good;
  overlapping.ram.push_back({7, 0x1000, 0x1000, good.ram[0].host, 0});
  expect_refused([&] { GuestDebugger d(overlapping); }, Errc::invalid_request, "overlaps");
  ::close(dev_null);
  GuestDebugger fine(good);  // and the right fds attach
}

// A vCPU inside KVM_RUN is not reconfigured under the running guest.
TEST(KvmRefusal, RunningVcpuIsRefused) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  {
    GuestDebugger dbg(vm.handles());
    dbg.prepare_run(0);  // the VMM is about to enter KVM_RUN
    expect_refused(
        [&] {
          dbg.add(WatchSpec{kData, 4, Access::write});
        },
        Errc::invalid_state, "vCPU 0 is running");
    expect_refused([&] { dbg.single_step(0, true); }, Errc::invalid_state, "is running");
    (void)dbg.handle_exit(0);
    dbg.add(WatchSpec{at(g_unreached), 1, Access::exec});  // stopped again: accepted
  }
  // Attaching while another thread is inside KVM_RUN: the guest loads in a loop for seconds.
  vm.enter(0, at(g_reads), kData, 0, 1ull << 40);
  std::thread runner([&] { (void)vm.run(0, nullptr, 3); });
  // Let it enter the guest (its guest time must grow); then attaching must be refused.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  expect_refused([&] { GuestDebugger d(vm.handles()); }, Errc::invalid_state, "executing guest code");
  runner.join();
  // A halted vCPU waits inside KVM_RUN: its thread is blocked in the ioctl.
  vm.enter(0, at(g_halt));
  std::thread halted([&] { (void)vm.run(0, nullptr, 2); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  expect_refused([&] { GuestDebugger d(vm.handles()); }, Errc::invalid_state, "inside KVM_RUN");
  halted.join();
}

TEST(KvmRefusal, AddressesTheGuestHasNotMappedAreRefused) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  GuestDebugger dbg(vm.handles());
  expect_refused(
      [&] {
        dbg.add(WatchSpec{0x7f0000000000, 4, Access::write});
      },
      Errc::invalid_request, "the guest has not mapped it");
  expect_refused(
      [&] {
        dbg.add(WatchSpec{0x7f0000001000, 1, Access::exec});
      },
      Errc::invalid_request, "the guest has not mapped it");
  expect_refused(
      [&] {
        dbg.add(WatchSpec{0x8000000000000000, 1, Access::exec});
      },
      Errc::invalid_request, "not a canonical address");
  // The watch reaches one byte past the mapped alias window (4 MiB + 1 MiB, PT entries 0-255).
  expect_refused(
      [&] {
        dbg.add(WatchSpec{kAliasVirtual + 0x100000 - 2, 4, Access::write, Engine::write_trap});
      },
      Errc::invalid_request, "guest address 0x500000");
  if (dbg.capabilities().trapped_stores)
    expect_refused(
        [&] {
          dbg.add(WatchSpec{0xfee00000, 4, Access::write, Engine::write_trap});
        },
        Errc::invalid_request, "not in the guest RAM");
  EXPECT_TRUE(dbg.watches().empty());
}

TEST(KvmRefusal, LengthsAndAccessesTheArchCannotDoAreRefused) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  GuestDebugger dbg(vm.handles());
  expect_refused(
      [&] {
        dbg.add(WatchSpec{at(g_loop_bp), 2, Access::exec});
      },
      Errc::invalid_request, "pass length 1");
  expect_refused(
      [&] {
        dbg.add(WatchSpec{kData, 0, Access::write});
      },
      Errc::invalid_request, "nothing to watch");
  expect_refused(
      [&] {
        dbg.add(WatchSpec{~0ull - 1, 4, Access::write});
      },
      Errc::invalid_request, "runs past the end");
  expect_refused(
      [&] {
        dbg.add(WatchSpec{kData, 4, Access::read_write, Engine::write_trap});
      },
      Errc::invalid_request, "write trapping sees stores only");
  expect_refused(
      [&] {
        dbg.add(WatchSpec{kData, 4, Access::write, Engine::software});
      },
      Errc::invalid_request, "software breakpoint is an execute breakpoint");
  if (dbg.capabilities().data_hits)
    expect_refused(
        [&] {
          dbg.add(WatchSpec{kData, 33, Access::write, Engine::hardware});
        },
        Errc::no_slots, "use Engine::write_trap");
  else
    expect_refused(
        [&] {
          dbg.add(WatchSpec{kData, 8, Access::read_write});
        },
        Errc::unsupported, "does not report guest data-breakpoint hits");
  EXPECT_TRUE(dbg.watches().empty());
}

// Four debug registers per vCPU: a fifth is refused naming write trapping for stores; the four
// armed before keep working, the debug state untouched.
TEST(KvmRefusal, FifthDebugRegisterIsRefusedAndTheSetStaysArmed) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  GuestDebugger dbg(vm.handles());
  std::vector<WatchSpec> four;
  for (unsigned i = 0; i < 3; ++i) four.push_back(WatchSpec{at(g_unreached) + i, 1, Access::exec});
  four.push_back(WatchSpec{at(g_loop_bp), 1, Access::exec});
  dbg.add(four);
  const kvm_guest_debug before = dbg.applied_state(0);
  const auto watches_before = dbg.watches().size();
  expect_refused(
      [&] {
        dbg.add(WatchSpec{at(g_unreached) + 8, 1, Access::exec});
      },
      Errc::no_slots, "0 of the 4 are free");
  if (dbg.capabilities().data_hits)
    expect_refused(
        [&] {
          dbg.add(WatchSpec{kData, 4, Access::write, Engine::hardware});
        },
        Errc::no_slots, "use Engine::write_trap");
  // A batch with one bad watch arms none of it — not even its write-trap watch.
  const bool traps = dbg.capabilities().trapped_stores;
  const WatchSpec batch[] = {
      WatchSpec{kData2, 4, Access::write, traps ? Engine::write_trap : Engine::automatic},
      WatchSpec{0x7f0000000000, 4, Access::write}};
  expect_refused([&] { dbg.add(batch); }, Errc::invalid_request, "watch 2 of 2");
  EXPECT_EQ(dbg.watches().size(), watches_before);
  EXPECT_TRUE(same_state(dbg.applied_state(0), before));
  // The armed breakpoint still fires, and a store to the refused write-trap page does not exit.
  vm.enter(0, at(g_loop), kData2, 0, 1);
  const GuestStop s = vm.run(0, &dbg);
  EXPECT_STOP(s, events);
  EXPECT_EQ(s.events.at(0).pc, at(g_loop_bp));
  EXPECT_EQ(vm.exits(KVM_EXIT_MMIO), 0u);
}

// Every state the library applies lists only control bits the kernel's SET_GUEST_DEBUG2 mask
// has (KVM would take unknown ones silently).
TEST(KvmRefusal, AppliedControlBitsAreInTheKernelsMask) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  GuestDebugger dbg(vm.handles());
  const std::uint32_t mask = dbg.capabilities().guest_debug_mask;
  if (mask == 0) GTEST_SKIP() << "this kernel reports no SET_GUEST_DEBUG2 mask";
  auto check = [&](const char* what) { EXPECT_EQ(dbg.applied_state(0).control & ~mask, 0u) << what; };
  dbg.add(WatchSpec{at(g_unreached), 1, Access::exec});
  check("breakpoint");
  dbg.single_step(0, true);
  check("single-step");
  if (!dbg.capabilities().block_irq) {
    expect_refused([&] { dbg.block_irq_while_stepping(true); }, Errc::unsupported, "BLOCKIRQ");
  } else {
    EXPECT_TRUE(dbg.applied_state(0).control & KVM_GUESTDBG_BLOCKIRQ);
  }
  if (!dbg.capabilities().general_detect_exits)
    expect_refused([&] { dbg.detect_debug_register_access(true); }, Errc::unsupported, "MOV DR");
}

TEST(KvmRefusal, UnknownWatchAndDetachedDebugger) {
  HWBP_KVM_REQUIRE();
  TestVm vm;
  GuestDebugger dbg(vm.handles());
  expect_refused([&] { dbg.remove(42); }, Errc::invalid_request, "no watch 42");
  expect_refused([&] { dbg.single_step(3, true); }, Errc::invalid_request, "vCPU 3 does not exist");
  dbg.detach();
  expect_refused([&] { dbg.add(WatchSpec{kData, 4, Access::write}); }, Errc::invalid_state, "detached");
}

}  // namespace
}  // namespace hwbp::test::kvm
