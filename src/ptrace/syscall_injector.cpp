#include "ptrace/syscall_injector.hpp"

#include <sys/mman.h>
#include <sys/ptrace.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "ptrace/memory_map.hpp"
#include "ptrace/sys_error.hpp"

namespace hwbp::ptrace {
namespace {

constexpr std::uint8_t kSyscall[2] = {0x0f, 0x05};

std::uint64_t find_in(const Tracee& tracee, const Mapping& m) {
  constexpr std::size_t kChunk = 64 * 1024;
  std::vector<std::uint8_t> buf;
  for (std::uint64_t at = m.start; at < m.end; at += kChunk) {
    std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk + 1, m.end - at));
    buf.resize(len);
    if (!tracee.memory().try_read(at, buf)) return 0;
    auto it = std::search(buf.begin(), buf.end(), std::begin(kSyscall), std::end(kSyscall));
    if (it != buf.end()) return at + static_cast<std::uint64_t>(it - buf.begin());
  }
  return 0;
}

// A fault of the borrowed `syscall` instruction itself (its page unmapped or made
// non-executable under us): the fault address is the instruction's own.
bool faulted_on(std::uint64_t gateway, const siginfo_t& info) {
  const auto addr = reinterpret_cast<std::uint64_t>(info.si_addr);
  return addr >= gateway && addr < gateway + sizeof kSyscall;
}

}  // namespace

std::uint64_t find_syscall_gateway(const Tracee& tracee) {
  auto maps = read_maps(tracee.pid());
  // The bytes need not start an instruction of that code: rip is set to them and the CPU
  // decodes from there, so any 0f 05 in executable memory is a `syscall` for us.
  for (const Mapping& m : maps)
    if (m.path == "[vdso]")
      if (std::uint64_t a = find_in(tracee, m)) return a;
  for (const Mapping& m : maps)
    if ((m.prot & PROT_EXEC) && !m.path.empty() && m.path[0] == '/')
      if (std::uint64_t a = find_in(tracee, m)) return a;
  throw Error(Errc::unsupported, "process " + std::to_string(tracee.pid()) +
                                     " has no executable syscall instruction hwbp could borrow");
}

InjectionSession::InjectionSession(Tracee& tracee, pid_t tid, std::uint64_t gateway)
    : tracee_(tracee), tid_(tid), gateway_(gateway) {
  saved_ = get_registers(tid);
  have_info_ = ::ptrace(PTRACE_GETSIGINFO, tid, nullptr, &saved_info_) == 0;
  __ptrace_syscall_info sc{};
  long n = ::ptrace(PTRACE_GET_SYSCALL_INFO, tid, reinterpret_cast<void*>(sizeof sc), &sc);
  at_entry_ = n > 0 && (sc.op == PTRACE_SYSCALL_INFO_ENTRY || sc.op == PTRACE_SYSCALL_INFO_SECCOMP);
}

InjectionSession::~InjectionSession() {
  if (finished_) return;
  try {
    finish();
  } catch (...) {
  }
}

long InjectionSession::call(long nr, std::array<std::uint64_t, 6> args) {
  GeneralRegisters r = saved_;
  r.rip = gateway_;
  r.rax = static_cast<std::uint64_t>(nr);
  r.orig_rax = static_cast<std::uint64_t>(-1);
  r.rdi = args[0];
  r.rsi = args[1];
  r.rdx = args[2];
  r.r10 = args[3];
  r.r8 = args[4];
  r.r9 = args[5];
  r.eflags &= ~0x100ULL;  // TF: the kernel sets it for the step itself
  stepped_ = true;
  ++tracee_.injected_calls;
  // At most: one trap at the exit of the syscall the thread was stopped in, one queued fault
  // of the program's (below), one after ours.
  for (int attempt = 0; attempt < 6; ++attempt) {
    // Set again after an early trap: a thread stopped *inside* a syscall function (exec, fork
    // and clone events) gets that function's return value stored into rax after the stop
    // (arch/x86/entry/common.c: do_syscall_x64() writes regs->ax on return).
    set_registers(tid_, r);
    auto step = tracee_.step(tid_);
    GeneralRegisters now = get_registers(tid_);
    if (step.faulted && now.rip == gateway_ && !faulted_on(gateway_, step.info)) {
      // Not ours: the program's instruction the thread stopped at had faulted (typically a
      // store to a page the engine protects) and its signal was still queued. The stop that
      // gave us the thread is taken before queued signals are dequeued (kernel/signal.c:
      // get_signal() handles JOBCTL_TRAP_MASK first), so the step dequeues it before `syscall`
      // runs. Stepping again with signal 0 discards it: a fault leaves rip on the faulting
      // instruction, so restoring the registers runs it again, and it faults again if it must
      // (a store to a page still protected then reaches the tracer as a fresh SIGSEGV stop).
      continue;
    }
    if (step.faulted)
      throw Error(Errc::system, "injected system call " + std::to_string(nr) + " faulted in thread " +
                                    std::to_string(tid_) + " (signal " + std::to_string(step.info.si_signo) +
                                    ")");
    if (now.rip == gateway_ + sizeof kSyscall) return static_cast<long>(now.rax);
    if (now.rip != gateway_)
      throw Error(Errc::system, "injected system call " + std::to_string(nr) + " in thread " +
                                    std::to_string(tid_) + " ended at an unexpected address");
  }
  throw Error(Errc::system, "injected system call " + std::to_string(nr) + " did not run in thread " +
                                std::to_string(tid_));
}

void InjectionSession::finish() {
  finished_ = true;
  if (!stepped_) return;  // nothing changed
  GeneralRegisters r = saved_;
  if (at_entry_) {
    // Rewind onto the syscall instruction, as a kernel restart does (see header).
    r.rip -= 2;
    r.rax = r.orig_rax;
    r.orig_rax = static_cast<std::uint64_t>(-1);
  }
  set_registers(tid_, r);
  if (have_info_) ::ptrace(PTRACE_SETSIGINFO, tid_, nullptr, &saved_info_);
}

}  // namespace hwbp::ptrace
