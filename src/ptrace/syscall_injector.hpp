// System calls run inside a ptrace-stopped thread of the target: how the page engine changes the
// target's protections (mprotect) and maps its scratch memory (mmap/munmap) from outside.
//
// One InjectionSession = one stop of one thread: it saves the registers and the stop's siginfo,
// runs any number of system calls, and restores both, so that the stop looks to the tracer as
// before (except as noted for entry stops). Each call points rip at a `syscall` instruction of
// the target (the gateway: found in the vDSO or in library text, later the engine's own scratch
// code), loads rax and the arguments, and single-steps until that instruction has executed.
//
// Kernel behaviour this relies on (kernel/entry/common.c, arch/x86/kernel/signal.c):
//  - orig_rax = -1 in the injected registers. A thread can be stopped inside a system call
//    (syscall-entry/exit-stop, PTRACE_EVENT_EXEC, a signal-delivery-stop after a syscall that
//    returned -ERESTARTSYS). When it resumes, arch_do_signal_or_restart() would apply the
//    restart rules of *that* syscall (rip -= 2, rax = orig_rax) to our registers if orig_rax
//    still named it. -1 means "no syscall": nothing is restarted, and at an entry stop the
//    pending syscall is not executed (do_syscall_64() skips nr -1).
//  - Single-stepping a thread stopped inside a syscall first reports a trap at that syscall's
//    exit (syscall_exit_work(): SYSCALL_EXIT_TRAP, set by user_enable_single_step(), makes
//    user_single_step_report() send SIGTRAP) before any user instruction ran. The session
//    therefore steps until rip has moved past the gateway instruction.
//  - The step over `syscall` itself also ends in that exit trap (si_code TRAP_BRKPT).
//  - At a syscall-entry-stop the original syscall has not run, and after the session it never
//    will in that stop. The session restores its registers *rewound*: rip back onto the
//    2-byte syscall instruction, rax = its number, exactly like a kernel restart. The thread
//    re-executes it on resume and (under PTRACE_SYSCALL) stops at its entry again: callers see
//    the same syscall twice and must be idempotent there (rewound() tells them).
// After the session the thread is in the signal-delivery-stop of the last step's SIGTRAP with
// the original stop's siginfo put back (PTRACE_SETSIGINFO): resuming with signal 0 is always
// right for stops that carried no signal, and resuming with the original signal delivers it
// with its original siginfo.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <array>
#include <cstdint>

#include "ptrace/registers.hpp"
#include "ptrace/tracee.hpp"

namespace hwbp::ptrace {

// Address of a `syscall` instruction (0f 05) in an executable mapping of the target: the vDSO
// first (always mapped, never unmapped by the program), else any executable file mapping.
// Throws hwbp::Error(unsupported) if there is none.
std::uint64_t find_syscall_gateway(const Tracee& tracee);

class InjectionSession {
 public:
  InjectionSession(Tracee& tracee, pid_t tid, std::uint64_t gateway);
  // Restores the thread if finish() was not called (best effort: errors are swallowed).
  ~InjectionSession();
  InjectionSession(const InjectionSession&) = delete;
  InjectionSession& operator=(const InjectionSession&) = delete;

  // Runs syscall nr with up to six arguments in the thread; returns the raw result (-errno on
  // failure, as the kernel returns it). Throws ThreadGone, or hwbp::Error if the gateway faults.
  long call(long nr, std::array<std::uint64_t, 6> args = {});
  template <typename... A>
  long operator()(long nr, A... a) {
    return call(nr, {static_cast<std::uint64_t>(a)...});
  }

  // Restores the registers and siginfo. Throws.
  void finish();
  // The thread was at a syscall-entry-stop: its syscall will be executed again (see above).
  bool rewound() const noexcept { return at_entry_; }
  pid_t tid() const noexcept { return tid_; }
  // The registers at the stop (before any call).
  const GeneralRegisters& saved() const noexcept { return saved_; }

 private:
  Tracee& tracee_;
  pid_t tid_;
  std::uint64_t gateway_;
  GeneralRegisters saved_{};
  siginfo_t saved_info_{};
  bool have_info_ = false;
  bool at_entry_ = false;
  bool stepped_ = false;
  bool finished_ = false;
};

}  // namespace hwbp::ptrace
