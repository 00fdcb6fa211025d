// The traced process as the page engine drives it: its memory, waiting for one of its threads,
// single-stepping a thread, and the bookkeeping that keeps the engine's own stops invisible to
// the tracer (signals that arrive while the engine steps a thread, stops of other threads the
// engine collected).
//
// The caller (the tracer) owns the ptrace relationship: every thread is PTRACE_SEIZEd by the
// calling thread of this process (ptrace requests must come from the tracing thread). The engine
// only works on a thread while the tracer has handed it a stop of that thread.
//
// Signals during a step. PTRACE_SINGLESTEP resumes the thread; if a signal is pending the
// kernel reports its signal-delivery-stop before the step's SIGTRAP (kernel/signal.c:
// get_signal() -> ptrace_signal()). The engine must not deliver it there (a handler would run
// with rip inside the engine's scratch code, or in the middle of an emulated instruction), so
// it *holds* it: resumes with signal 0 (which discards it) and keeps its siginfo. When the
// engine is done with the thread, the thread sits in the signal-delivery-stop of the step's
// SIGTRAP; resume() then turns that stop into the held signal's stop (PTRACE_SETSIGINFO) and
// hands it back to the tracer as a deferred stop, so the tracer decides about the signal exactly
// as if it had arrived then (deliver, or consume one of its own such as a perf SIGTRAP). When
// the kernel resumes with a signal equal to the stop's siginfo's si_signo it keeps that siginfo
// (ptrace_signal(): only a *different* signal number is rewritten to SI_USER), so the program
// receives the original siginfo. A second held signal is replayed the same way once the tracer
// consumed the first (resume with 0); if the tracer delivers the first, later held signals are
// re-sent with tgkill (same number, si_code SI_TKILL: the only loss, and only when two
// asynchronous signals arrive within one engine step).
//
// A group-stop (SIGSTOP to the process) that reaches the thread during a step is held as its
// stop signal and replayed the same way, so the thread still stops with its process.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <deque>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "ptrace/remote_memory.hpp"

namespace hwbp::ptrace {

// A stop collected with waitpid: the thread and its wait status.
struct WaitedStop {
  pid_t tid = 0;
  int status = 0;
};

class Tracee {
 public:
  explicit Tracee(pid_t pid);

  pid_t pid() const noexcept { return pid_; }
  RemoteMemory& memory() noexcept { return memory_; }
  const RemoteMemory& memory() const noexcept { return memory_; }

  // waitpid for the next stop of tid (which the engine resumed). If the thread exited or stops
  // on its way out (PTRACE_EVENT_EXIT), that status is kept for the tracer (take_deferred) and
  // ThreadGone is thrown.
  int wait_stop(pid_t tid);

  struct StepResult {
    bool faulted = false;  // the instruction raised a synchronous signal (info): it did not run
    siginfo_t info{};
  };
  // Executes one instruction of tid (in a ptrace-stop) with PTRACE_SINGLESTEP. Afterwards the
  // thread is in the signal-delivery-stop of the step's SIGTRAP (or of the fault). Holds
  // asynchronous signals that arrive meanwhile. Throws ThreadGone.
  // `deliver`: a signal to deliver with the first resume (the step then ends at the first
  // instruction of its handler: a ptrace_notify stop, si_code SIGTRAP).
  StepResult step(pid_t tid, int deliver = 0);
  // Like wait_stop, but returns nullopt at once if tid has no stop to report yet.
  std::optional<int> poll_stop(pid_t tid);

  // Resumes tid from a stop the tracer was handed, with `request` (PTRACE_CONT or
  // PTRACE_SYSCALL) and signal sig. Returns false when it did not resume the thread because a
  // held signal is replayed as a new stop of it (take_deferred).
  bool resume(pid_t tid, int request, int sig);

  // A stop that the tracer must handle as if its own waitpid had returned it: replayed held
  // signals, and stops of threads the engine collected while working. Take these before every
  // waitpid.
  std::optional<WaitedStop> take_deferred();
  void defer(WaitedStop stop) { deferred_.push_back(stop); }
  bool has_held_signals(pid_t tid) const;
  // Keeps a signal of tid for the tracer: its next resume() turns it into a stop of tid.
  void hold(pid_t tid, const siginfo_t& info) { held_[tid].push_back(info); }
  bool has_deferred(pid_t tid) const;
  // Detaches tid (a forked child the engine cleaned), giving it its held signals.
  void detach(pid_t tid);

  std::uint64_t injected_calls = 0;  // statistics: system calls injected (syscall_injector)

  // Forget a thread (exited) or everything (exec: one thread survives with the leader's id).
  void forget(pid_t tid);
  void on_exec();

 private:
  int checked(pid_t tid, int status);  // defers exits (throws ThreadGone), else returns status

  pid_t pid_;
  RemoteMemory memory_;
  std::map<pid_t, std::vector<siginfo_t>> held_;
  std::deque<WaitedStop> deferred_;
};

// Does the new task `child` of `creator` (PTRACE_EVENT_FORK/VFORK/CLONE `event`) share its
// address space? kcmp(KCMP_VM) answers exactly (a clone without CLONE_VM reported as
// PTRACE_EVENT_CLONE because its exit signal is not SIGCHLD, a vfork without CLONE_VM); without
// kcmp, go by the event.
bool shares_address_space(pid_t creator, pid_t child, int event);

// Wait-status helpers (with PTRACE_SEIZE and PTRACE_O_TRACESYSGOOD).
inline int ptrace_event(int status) { return status >> 16; }
inline bool is_syscall_stop(int status) { return WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80); }
inline bool is_signal_delivery_stop(int status) {
  return WIFSTOPPED(status) && ptrace_event(status) == 0 && !is_syscall_stop(status);
}
inline int stop_status_for_signal(int sig) { return (sig << 8) | 0x7f; }

}  // namespace hwbp::ptrace
