// Cost of a store trapped by the ptrace page transport, against the raw ptrace mechanisms it is
// built on, measured in the same run on the same machine:
//   BM_PtraceRawSegvRoundTrip   a store to a read-only page: SIGSEGV stop, GETSIGINFO, GETREGS,
//                               skip the instruction (SETREGS), PTRACE_CONT: the floor of any
//                               ptrace fault handling
//   BM_PtraceRawSingleStep      PTRACE_SINGLESTEP + waitpid of a stopped thread
//   BM_PageTransportEmulated    a plain store into a watched page, completed by emulation
//   BM_PageTransportDisplaced   a lock-prefixed increment, completed by a displaced step
//   BM_PtraceHardwareHit        the same plain store caught by a perf sigtrap breakpoint, as
//                               `hwbp run --mode ptrace` does: SIGTRAP stop, GETSIGINFO, resume
//                               (skipped where debug exceptions are not delivered)
// One benchmark iteration = one trapped store (or one step). Ratios: emulated and displaced
// stores against the raw SIGSEGV round trip, the displaced store against a raw single-step, the
// emulated store against a hardware hit (issue 15: at most 10x, where both work).
#include <benchmark/benchmark.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "perf/hit_delivery.hpp"
#include "ptrace/page_transport.hpp"
#include "ptrace/registers.hpp"
#include "ptrace/support/traced_child.hpp"
#include "ptrace/tracee.hpp"
#include "ratio.hpp"

namespace {

using hwbp::ptrace::test::TracedChild;

// The target, run to its arm point (the thread stopped in its SIGTRAP), with the address it
// stores to.
struct Target {
  std::unique_ptr<TracedChild> child;
  std::uint64_t addr = 0;
};

Target start(const char* mode) {
  Target t;
  t.child = std::make_unique<TracedChild>(std::vector<std::string>{HWBP_BENCH_TARGET, mode});
  const pid_t pid = t.child->pid();
  ::ptrace(PTRACE_CONT, pid, nullptr, 0);
  for (;;) {
    auto st = t.child->wait(pid);
    if (!st || !WIFSTOPPED(st->second)) throw std::runtime_error("bench target ended early");
    if (hwbp::ptrace::is_signal_delivery_stop(st->second) && WSTOPSIG(st->second) == SIGTRAP) break;
    ::ptrace(PTRACE_CONT, pid, nullptr, 0);
  }
  auto line = t.child->read_line();
  if (!line) throw std::runtime_error("bench target said nothing");
  t.addr = std::stoull(line->substr(line->find('=') + 1), nullptr, 16);
  return t;
}

int wait_stop(TracedChild& c) {
  auto st = c.wait(c.pid());
  if (!st || !WIFSTOPPED(st->second)) throw std::runtime_error("bench target ended");
  return st->second;
}

void BM_PtraceRawSegvRoundTrip(benchmark::State& state) {
  Target t = start("raw");
  const pid_t pid = t.child->pid();
  ::ptrace(PTRACE_CONT, pid, nullptr, 0);
  for (auto _ : state) {
    wait_stop(*t.child);
    siginfo_t info{};
    ::ptrace(PTRACE_GETSIGINFO, pid, nullptr, &info);
    auto regs = hwbp::ptrace::get_registers(pid);
    regs.rip += 3;  // movq %rax, (%rdi)
    hwbp::ptrace::set_registers(pid, regs);
    ::ptrace(PTRACE_CONT, pid, nullptr, 0);
  }
}
BENCHMARK(BM_PtraceRawSegvRoundTrip)->UseRealTime();

void BM_PtraceRawSingleStep(benchmark::State& state) {
  Target t = start("spin");
  const pid_t pid = t.child->pid();
  for (auto _ : state) {
    ::ptrace(PTRACE_SINGLESTEP, pid, nullptr, 0);
    wait_stop(*t.child);
  }
}
BENCHMARK(BM_PtraceRawSingleStep)->UseRealTime();

void transport_loop(benchmark::State& state, const char* mode) {
  Target t = start(mode);
  const pid_t pid = t.child->pid();
  hwbp::ptrace::PageTransport transport(pid, {});
  transport.arm(pid, t.addr, 8, hwbp::Access::write);
  transport.resume(pid, 0);
  for (auto _ : state) {
    int status = wait_stop(*t.child);
    siginfo_t info{};
    ::ptrace(PTRACE_GETSIGINFO, pid, nullptr, &info);
    if (!hwbp::ptrace::is_signal_delivery_stop(status) || !transport.on_signal_stop(pid, info))
      return state.SkipWithError("a stop that is not a trapped store");
    transport.resume(pid, 0);
  }
  auto st = transport.stats();
  state.counters["emulated"] = static_cast<double>(st.emulated);
  state.counters["displaced"] = static_cast<double>(st.displaced);
}

void BM_PageTransportEmulated(benchmark::State& state) { transport_loop(state, "mov"); }
BENCHMARK(BM_PageTransportEmulated)->UseRealTime();

void BM_PageTransportDisplaced(benchmark::State& state) { transport_loop(state, "lock"); }
BENCHMARK(BM_PageTransportDisplaced)->UseRealTime();

void BM_PtraceHardwareHit(benchmark::State& state) {
  if (hwbp::perf::hit_delivery().state != hwbp::perf::HitDelivery::State::delivered)
    return state.SkipWithError(
        "debug exceptions are not delivered on this machine: no hardware-hit baseline");
  Target t = start("mov");
  const pid_t pid = t.child->pid();
  perf_event_attr a{};
  a.type = PERF_TYPE_BREAKPOINT;
  a.size = sizeof a;
  a.bp_type = HW_BREAKPOINT_W;
  a.bp_addr = t.addr;
  a.bp_len = 8;
  a.sample_period = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  a.remove_on_exec = 1;
  a.sigtrap = 1;
  int fd = static_cast<int>(::syscall(SYS_perf_event_open, &a, pid, -1, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) return state.SkipWithError("perf_event_open(sigtrap) on the target failed");
  ::ptrace(PTRACE_CONT, pid, nullptr, 0);
  for (auto _ : state) {
    wait_stop(*t.child);
    siginfo_t info{};
    ::ptrace(PTRACE_GETSIGINFO, pid, nullptr, &info);
    ::ptrace(PTRACE_CONT, pid, nullptr, 0);  // the SIGTRAP is consumed, as hwbp's tracer does
  }
  ::close(fd);
}
BENCHMARK(BM_PtraceHardwareHit)->UseRealTime();

HWBP_RATIO("ptrace_page_emulated_store/ptrace_raw_segv_round_trip", "BM_PageTransportEmulated/real_time",
           "BM_PtraceRawSegvRoundTrip/real_time");
HWBP_RATIO("ptrace_page_displaced_store/ptrace_raw_segv_round_trip", "BM_PageTransportDisplaced/real_time",
           "BM_PtraceRawSegvRoundTrip/real_time");
HWBP_RATIO("ptrace_page_displaced_store/ptrace_raw_single_step", "BM_PageTransportDisplaced/real_time",
           "BM_PtraceRawSingleStep/real_time");
HWBP_RATIO("ptrace_page_emulated_store/ptrace_hardware_hit", "BM_PageTransportEmulated/real_time",
           "BM_PtraceHardwareHit/real_time");

}  // namespace
