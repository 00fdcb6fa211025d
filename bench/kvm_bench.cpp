// hwbp::kvm against the raw KVM calls a VMM would make for the same thing, in one run (make
// bench-kvm runs them in the test VM; natively they need a /dev/kvm). Guest exits cost ~30 us in
// the test VM and ~5 us on kvm_pvm: compare the ratios, never absolute times across machines.
//
//  exec hit and continue   the library's run() to the next hit of a breakpoint in a loop (it
//                          steps over the breakpoint with its slot disabled) vs the same KVM
//                          calls by hand: KVM_RUN to the breakpoint, SET_GUEST_DEBUG without it
//                          plus SINGLESTEP, KVM_RUN to the step, SET_GUEST_DEBUG with it
//  exec hit decode         KVM_RUN + handle_exit() turning the exit into a hit vs KVM_RUN alone,
//                          the breakpoint firing again at the same pc
//  trapped write           a write-trap watch's report of a store vs a raw read-only memslot's
//                          MMIO exit whose data the VMM copies into guest RAM (the bare minimum)
//  arm a set               add() + remove() of 2 breakpoints and 2 write watches vs the
//                          KVM_SET_GUEST_DEBUG calls (the set, then none), on 1 and 4 vCPUs
//
// make bench-kvm interleaves the repetitions of all of them at random
// (--benchmark_enable_random_interleaving): the test VM shares the host's CPUs, and a library
// benchmark and its raw baseline must see the same load.
#include <benchmark/benchmark.h>
#include <sys/ioctl.h>

#include <cstring>
#include <memory>

#include "hwbp/kvm.hpp"
#include "kvm/kvm_test_support.hpp"
#include "kvm/support/test_vmm.hpp"
#include "ratio.hpp"

extern "C" const char g_bench_exec[], g_bench_nop[], g_bench_store[], g_unreached[];

namespace {

using hwbp::Access;
using hwbp::kvm::Engine;
using hwbp::kvm::GuestDebugger;
using hwbp::kvm::WatchSpec;
using hwbp::test::kvm::guest_address;
using hwbp::test::kvm::TestVm;

constexpr std::uint64_t kStoreTarget = hwbp::test::kvm::kRegion2 + 0x1000;

bool kvm_usable(benchmark::State& state) {
  if (!hwbp::test::kvm::backend().usable) {
    state.SkipWithError(hwbp::test::kvm::backend().why_unusable.c_str());
    return false;
  }
  return true;
}

void must(int rc, const char* what, benchmark::State& state) {
  if (rc < 0) state.SkipWithError(what);
}

kvm_guest_debug exec_breakpoint(std::uint64_t addr, bool enabled, bool step) {
  kvm_guest_debug d{};
  d.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP | (step ? KVM_GUESTDBG_SINGLESTEP : 0);
  if (step && (hwbp::kvm::probe().block_irq)) d.control |= KVM_GUESTDBG_BLOCKIRQ;
  d.arch.debugreg[0] = addr;
  d.arch.debugreg[7] = 0x400 | (enabled ? 0x2 : 0);
  return d;
}

void BM_KvmRawExecHitStepOver(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  TestVm vm;
  const int fd = vm.vcpu_fd(0);
  vm.enter(0, guest_address(g_bench_exec));
  const kvm_guest_debug armed = exec_breakpoint(guest_address(g_bench_nop), true, false);
  const kvm_guest_debug over = exec_breakpoint(guest_address(g_bench_nop), false, true);
  must(::ioctl(fd, KVM_SET_GUEST_DEBUG, &armed), "KVM_SET_GUEST_DEBUG", state);
  kvm_run* run = vm.run_state(0);
  for (auto _ : state) {
    ::ioctl(fd, KVM_RUN, 0);  // to the breakpoint
    if (run->exit_reason != KVM_EXIT_DEBUG) return state.SkipWithError("not a debug exit");
    ::ioctl(fd, KVM_SET_GUEST_DEBUG, &over);
    ::ioctl(fd, KVM_RUN, 0);  // one step past it
    ::ioctl(fd, KVM_SET_GUEST_DEBUG, &armed);
  }
}
BENCHMARK(BM_KvmRawExecHitStepOver)->UseRealTime();

void BM_KvmLibraryExecHit(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  TestVm vm;
  vm.enter(0, guest_address(g_bench_exec));
  GuestDebugger dbg(vm.handles());
  dbg.add(WatchSpec{guest_address(g_bench_nop), 1, Access::exec});
  for (auto _ : state) {
    const hwbp::kvm::ExitResult r = dbg.run(0);
    if (r.events.size() != 1) return state.SkipWithError("no hit");
    benchmark::DoNotOptimize(r.events[0].pc);
  }
}
BENCHMARK(BM_KvmLibraryExecHit)->UseRealTime();

void BM_KvmRawExecExit(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  TestVm vm;
  const int fd = vm.vcpu_fd(0);
  vm.enter(0, guest_address(g_bench_exec));
  const kvm_guest_debug armed = exec_breakpoint(guest_address(g_bench_nop), true, false);
  must(::ioctl(fd, KVM_SET_GUEST_DEBUG, &armed), "KVM_SET_GUEST_DEBUG", state);
  kvm_run* run = vm.run_state(0);
  for (auto _ : state) {
    ::ioctl(fd, KVM_RUN, 0);
    if (run->exit_reason != KVM_EXIT_DEBUG || !(run->debug.arch.dr6 & 1))
      return state.SkipWithError("no hit");
  }
}
BENCHMARK(BM_KvmRawExecExit)->UseRealTime();

void BM_KvmLibraryExecDecode(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  TestVm vm;
  const int fd = vm.vcpu_fd(0);
  vm.enter(0, guest_address(g_bench_exec));
  GuestDebugger dbg(vm.handles());
  dbg.add(WatchSpec{guest_address(g_bench_nop), 1, Access::exec});
  for (auto _ : state) {
    // No prepare_run: the breakpoint stays armed at the pc and fires again, as in the raw case.
    ::ioctl(fd, KVM_RUN, 0);
    const hwbp::kvm::ExitResult r = dbg.handle_exit(0);
    if (r.events.size() != 1) return state.SkipWithError("no hit");
    benchmark::DoNotOptimize(r.events[0].slot);
  }
}
BENCHMARK(BM_KvmLibraryExecDecode)->UseRealTime();

void BM_KvmRawReadOnlyStore(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  TestVm vm;
  const hwbp::kvm::Vm h = vm.handles();
  const hwbp::kvm::RamRegion& r = h.ram[1];
  // The VMM's own read-only memslot over the second region: every store exits as MMIO.
  kvm_userspace_memory_region m{r.slot, 0, r.guest_phys, 0, reinterpret_cast<std::uint64_t>(r.host)};
  must(::ioctl(h.vm_fd, KVM_SET_USER_MEMORY_REGION, &m), "delete memslot", state);
  m.flags = KVM_MEM_READONLY;
  m.memory_size = r.size;
  must(::ioctl(h.vm_fd, KVM_SET_USER_MEMORY_REGION, &m), "read-only memslot", state);
  vm.enter(0, guest_address(g_bench_store), kStoreTarget);
  const int fd = vm.vcpu_fd(0);
  kvm_run* run = vm.run_state(0);
  for (auto _ : state) {
    ::ioctl(fd, KVM_RUN, 0);
    if (run->exit_reason != KVM_EXIT_MMIO) return state.SkipWithError("not an MMIO exit");
    std::memcpy(vm.host(run->mmio.phys_addr), run->mmio.data, run->mmio.len);
  }
}
BENCHMARK(BM_KvmRawReadOnlyStore)->UseRealTime();

void BM_KvmLibraryTrappedWrite(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  if (!hwbp::kvm::probe().trapped_stores) return state.SkipWithError("no write trapping on this backend");
  TestVm vm;
  vm.enter(0, guest_address(g_bench_store), kStoreTarget);
  GuestDebugger dbg(vm.handles());
  dbg.add(WatchSpec{kStoreTarget, 4, Access::write, Engine::write_trap});
  for (auto _ : state) {
    dbg.prepare_run(0);
    ::ioctl(vm.vcpu_fd(0), KVM_RUN, 0);
    const hwbp::kvm::ExitResult r = dbg.handle_exit(0);
    if (r.events.size() != 1) return state.SkipWithError("no trapped write reported");
    benchmark::DoNotOptimize(r.events[0].new_bytes);
  }
}
BENCHMARK(BM_KvmLibraryTrappedWrite)->UseRealTime();

std::vector<WatchSpec> bench_set() {
  const bool data = hwbp::kvm::probe().data_hits;
  const Engine stores = data ? Engine::hardware : Engine::automatic;
  const Access store_access = data ? Access::write : Access::exec;
  const std::uint64_t a = data ? hwbp::test::kvm::kData : guest_address(g_unreached) + 8;
  return {{guest_address(g_unreached), 1, Access::exec},
          {guest_address(g_unreached) + 1, 1, Access::exec},
          {a, store_access == Access::exec ? 1u : 8u, store_access,
           store_access == Access::exec ? Engine::hardware : stores},
          {a + 8, store_access == Access::exec ? 1u : 8u, store_access,
           store_access == Access::exec ? Engine::hardware : stores}};
}

// state.range(0): vCPUs. A VM-wide set goes to every vCPU: one KVM_SET_GUEST_DEBUG each.
void BM_KvmRawSetClear(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  const unsigned vcpus = static_cast<unsigned>(state.range(0));
  TestVm vm(TestVm::Options{vcpus});
  GuestDebugger dbg(vm.handles());
  dbg.add(bench_set());
  const kvm_guest_debug set = dbg.applied_state(0), clear{};
  dbg.detach();
  for (auto _ : state) {
    for (unsigned v = 0; v < vcpus; ++v) ::ioctl(vm.vcpu_fd(v), KVM_SET_GUEST_DEBUG, &set);
    for (unsigned v = 0; v < vcpus; ++v) ::ioctl(vm.vcpu_fd(v), KVM_SET_GUEST_DEBUG, &clear);
  }
}
BENCHMARK(BM_KvmRawSetClear)->Arg(1)->Arg(4)->UseRealTime();

void BM_KvmLibraryArmRemove(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  TestVm vm(TestVm::Options{static_cast<unsigned>(state.range(0))});
  vm.enter(0, guest_address(g_bench_exec));
  GuestDebugger dbg(vm.handles());
  // One exit first: from then on the control registers arrive with each exit (sync regs).
  dbg.add(WatchSpec{guest_address(g_bench_nop), 1, Access::exec});
  (void)dbg.run(0);
  dbg.remove(dbg.watches().front().id);
  const std::vector<WatchSpec> set = bench_set();
  for (auto _ : state) {
    const std::vector<hwbp::kvm::WatchId> ids = dbg.add(set);
    dbg.remove(ids);
  }
}
BENCHMARK(BM_KvmLibraryArmRemove)->Arg(1)->Arg(4)->UseRealTime();

}  // namespace

HWBP_RATIO("kvm_exec_hit_and_continue/raw_step_over", "BM_KvmLibraryExecHit/real_time",
           "BM_KvmRawExecHitStepOver/real_time");
HWBP_RATIO("kvm_exec_hit_decode/raw_exec_exit", "BM_KvmLibraryExecDecode/real_time",
           "BM_KvmRawExecExit/real_time");
HWBP_RATIO("kvm_trapped_write/raw_readonly_mmio_exit", "BM_KvmLibraryTrappedWrite/real_time",
           "BM_KvmRawReadOnlyStore/real_time");
HWBP_RATIO("kvm_arm_set/raw_set_guest_debug", "BM_KvmLibraryArmRemove/1/real_time",
           "BM_KvmRawSetClear/1/real_time");
HWBP_RATIO("kvm_arm_set_4_vcpus/raw_set_guest_debug", "BM_KvmLibraryArmRemove/4/real_time",
           "BM_KvmRawSetClear/4/real_time");
