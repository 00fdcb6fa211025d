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
// Each pair is measured paired: one loop alternates the library's operation and the raw one
// (two VMs side by side), times each, and reports the ratio of their medians (the "ratio"
// counter; the iteration time is the library's). The test VM shares the host's CPUs with other
// work, and only a paired measurement sees the same load on both sides; make bench-kvm also
// interleaves the repetitions at random.
#include <benchmark/benchmark.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

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
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kStoreTarget = hwbp::test::kvm::kRegion2 + 0x1000;

bool kvm_usable(benchmark::State& state) {
  if (!hwbp::test::kvm::backend().usable) {
    state.SkipWithError(hwbp::test::kvm::backend().why_unusable.c_str());
    return false;
  }
  return true;
}

double median(std::vector<double>& v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// The paired loop: library operation, raw operation, alternating. Each returns false (with the
// reason in *why) when the exit was not the expected one.
template <class Lib, class Raw>
void paired(benchmark::State& state, Lib&& lib, Raw&& raw) {
  std::vector<double> lib_ns, raw_ns;
  const char* why = nullptr;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    if (!lib(&why)) break;
    const auto t1 = Clock::now();
    if (!raw(&why)) break;
    const auto t2 = Clock::now();
    lib_ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
    raw_ns.push_back(std::chrono::duration<double, std::nano>(t2 - t1).count());
    state.SetIterationTime(lib_ns.back() * 1e-9);
  }
  if (why) return state.SkipWithError(why);
  if (lib_ns.empty()) return;
  const double l = median(lib_ns), r = median(raw_ns);
  state.counters["ratio"] = l / r;
  state.counters["library_us"] = l / 1000;
  state.counters["raw_us"] = r / 1000;
}

kvm_guest_debug exec_breakpoint(std::uint64_t addr, bool enabled, bool step) {
  kvm_guest_debug d{};
  d.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP | (step ? KVM_GUESTDBG_SINGLESTEP : 0);
  if (step && hwbp::kvm::probe().block_irq) d.control |= KVM_GUESTDBG_BLOCKIRQ;
  d.arch.debugreg[0] = addr;
  d.arch.debugreg[7] = 0x400 | (enabled ? 0x2 : 0);
  return d;
}

// A breakpoint in a loop, hit and continued: run() to the next hit (it steps over the
// breakpoint with its slot disabled) vs the same KVM calls by hand.
void BM_KvmExecHitAndContinue(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  TestVm lib_vm, raw_vm;
  lib_vm.enter(0, guest_address(g_bench_exec));
  raw_vm.enter(0, guest_address(g_bench_exec));
  GuestDebugger dbg(lib_vm.handles());
  dbg.add(WatchSpec{guest_address(g_bench_nop), 1, Access::exec});
  const int fd = raw_vm.vcpu_fd(0);
  const kvm_guest_debug armed = exec_breakpoint(guest_address(g_bench_nop), true, false);
  const kvm_guest_debug over = exec_breakpoint(guest_address(g_bench_nop), false, true);
  ::ioctl(fd, KVM_SET_GUEST_DEBUG, &armed);
  kvm_run* run = raw_vm.run_state(0);
  paired(
      state,
      [&](const char** why) {
        const hwbp::kvm::ExitResult r = dbg.run(0);
        if (r.events.size() == 1) return true;
        *why = "the library reported no hit";
        return false;
      },
      [&](const char** why) {
        ::ioctl(fd, KVM_RUN, 0);  // to the breakpoint
        if (run->exit_reason != KVM_EXIT_DEBUG) {
          *why = "raw: not a debug exit";
          return false;
        }
        ::ioctl(fd, KVM_SET_GUEST_DEBUG, &over);
        ::ioctl(fd, KVM_RUN, 0);  // one step past it
        ::ioctl(fd, KVM_SET_GUEST_DEBUG, &armed);
        return true;
      });
}
BENCHMARK(BM_KvmExecHitAndContinue)->UseManualTime();

// The same breakpoint firing again at the same pc: KVM_RUN + handle_exit turning the exit into
// a hit (no prepare_run, so nothing steps over it) vs KVM_RUN alone.
void BM_KvmExecHitDecode(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  TestVm lib_vm, raw_vm;
  lib_vm.enter(0, guest_address(g_bench_exec));
  raw_vm.enter(0, guest_address(g_bench_exec));
  GuestDebugger dbg(lib_vm.handles());
  dbg.add(WatchSpec{guest_address(g_bench_nop), 1, Access::exec});
  const kvm_guest_debug armed = exec_breakpoint(guest_address(g_bench_nop), true, false);
  ::ioctl(raw_vm.vcpu_fd(0), KVM_SET_GUEST_DEBUG, &armed);
  kvm_run* run = raw_vm.run_state(0);
  paired(
      state,
      [&](const char** why) {
        ::ioctl(lib_vm.vcpu_fd(0), KVM_RUN, 0);
        const hwbp::kvm::ExitResult r = dbg.handle_exit(0);
        if (r.events.size() == 1) return true;
        *why = "the library reported no hit";
        return false;
      },
      [&](const char** why) {
        ::ioctl(raw_vm.vcpu_fd(0), KVM_RUN, 0);
        if (run->exit_reason == KVM_EXIT_DEBUG && (run->debug.arch.dr6 & 1)) return true;
        *why = "raw: no hit";
        return false;
      });
}
BENCHMARK(BM_KvmExecHitDecode)->UseManualTime();

// A store of a new value in a loop: a write-trap watch's report vs the VMM's own read-only
// memslot over the same region, whose MMIO exit the VMM copies into its RAM (the bare minimum).
void BM_KvmTrappedWrite(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  if (!hwbp::kvm::probe().trapped_stores) return state.SkipWithError("no write trapping on this backend");
  TestVm lib_vm, raw_vm;
  lib_vm.enter(0, guest_address(g_bench_store), kStoreTarget);
  raw_vm.enter(0, guest_address(g_bench_store), kStoreTarget);
  GuestDebugger dbg(lib_vm.handles());
  dbg.add(WatchSpec{kStoreTarget, 4, Access::write, Engine::write_trap});
  const hwbp::kvm::Vm h = raw_vm.handles();
  const hwbp::kvm::RamRegion& region = h.ram[1];
  kvm_userspace_memory_region m{region.slot, 0, region.guest_phys, 0,
                                reinterpret_cast<std::uint64_t>(region.host)};
  ::ioctl(h.vm_fd, KVM_SET_USER_MEMORY_REGION, &m);  // delete, then read-only again
  m.flags = KVM_MEM_READONLY;
  m.memory_size = region.size;
  if (::ioctl(h.vm_fd, KVM_SET_USER_MEMORY_REGION, &m) < 0)
    return state.SkipWithError("raw read-only memslot");
  kvm_run* run = raw_vm.run_state(0);
  paired(
      state,
      [&](const char** why) {
        dbg.prepare_run(0);
        ::ioctl(lib_vm.vcpu_fd(0), KVM_RUN, 0);
        const hwbp::kvm::ExitResult r = dbg.handle_exit(0);
        if (r.events.size() == 1) return true;
        *why = "the library reported no trapped write";
        return false;
      },
      [&](const char** why) {
        ::ioctl(raw_vm.vcpu_fd(0), KVM_RUN, 0);
        if (run->exit_reason != KVM_EXIT_MMIO) {
          *why = "raw: not an MMIO exit";
          return false;
        }
        std::memcpy(raw_vm.host(run->mmio.phys_addr), run->mmio.data, run->mmio.len);
        return true;
      });
}
BENCHMARK(BM_KvmTrappedWrite)->UseManualTime();

std::vector<WatchSpec> bench_set() {
  // 2 breakpoints and 2 write watches; where the backend reports no data hits, 4 breakpoints
  // (the debug registers' work is the same, write watches would go to write trapping).
  const std::uint64_t code = guest_address(g_unreached);
  if (!hwbp::kvm::probe().data_hits)
    return {{code, 1, Access::exec},
            {code + 1, 1, Access::exec},
            {code + 2, 1, Access::exec},
            {code + 3, 1, Access::exec}};
  return {{code, 1, Access::exec},
          {code + 1, 1, Access::exec},
          {hwbp::test::kvm::kData, 8, Access::write, Engine::hardware},
          {hwbp::test::kvm::kData + 8, 8, Access::write, Engine::hardware}};
}

// Arming a set and removing it vs the KVM_SET_GUEST_DEBUG calls for the same (the set on every
// vCPU, then nothing). state.range(0): vCPUs.
void BM_KvmArmSet(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  const unsigned vcpus = static_cast<unsigned>(state.range(0));
  TestVm lib_vm(TestVm::Options{vcpus}), raw_vm(TestVm::Options{vcpus});
  lib_vm.enter(0, guest_address(g_bench_exec));
  GuestDebugger dbg(lib_vm.handles());
  // One exit first: from then on the control registers arrive with each exit (sync regs).
  dbg.add(WatchSpec{guest_address(g_bench_nop), 1, Access::exec});
  (void)dbg.run(0);
  dbg.remove(dbg.watches().front().id);
  const std::vector<WatchSpec> set = bench_set();
  const auto ids = dbg.add(set);
  const kvm_guest_debug armed = dbg.applied_state(0), clear{};
  dbg.remove(ids);
  // The raw vCPU runs to the same exit first, so that both sides set the debug state of a vCPU
  // in the same condition (one that has run, stopped at a debug exit).
  raw_vm.enter(0, guest_address(g_bench_exec));
  const kvm_guest_debug first = exec_breakpoint(guest_address(g_bench_nop), true, false);
  ::ioctl(raw_vm.vcpu_fd(0), KVM_SET_GUEST_DEBUG, &first);
  ::ioctl(raw_vm.vcpu_fd(0), KVM_RUN, 0);
  if (raw_vm.run_state(0)->exit_reason != KVM_EXIT_DEBUG) return state.SkipWithError("raw: not a debug exit");
  paired(
      state,
      [&](const char**) {
        dbg.remove(dbg.add(set));
        return true;
      },
      [&](const char**) {
        for (unsigned v = 0; v < vcpus; ++v) ::ioctl(raw_vm.vcpu_fd(v), KVM_SET_GUEST_DEBUG, &armed);
        for (unsigned v = 0; v < vcpus; ++v) ::ioctl(raw_vm.vcpu_fd(v), KVM_SET_GUEST_DEBUG, &clear);
        return true;
      });
}
BENCHMARK(BM_KvmArmSet)->Arg(1)->Arg(4)->UseManualTime();

}  // namespace

HWBP_PAIRED_RATIO("kvm_exec_hit_and_continue/raw_step_over", "BM_KvmExecHitAndContinue/manual_time");
HWBP_PAIRED_RATIO("kvm_exec_hit_decode/raw_exec_exit", "BM_KvmExecHitDecode/manual_time");
HWBP_PAIRED_RATIO("kvm_trapped_write/raw_readonly_mmio_exit", "BM_KvmTrappedWrite/manual_time");
HWBP_PAIRED_RATIO("kvm_arm_set/raw_set_guest_debug", "BM_KvmArmSet/1/manual_time");
HWBP_PAIRED_RATIO("kvm_arm_set_4_vcpus/raw_set_guest_debug", "BM_KvmArmSet/4/manual_time");
