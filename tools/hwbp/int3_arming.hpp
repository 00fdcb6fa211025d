// Execute breakpoints as software breakpoints (int3) under ptrace, for `hwbp run|attach`
// (issue 15): where the debug registers cannot serve an `x` watch (silent hypervisor, no free
// slot, --engine page) and the uprobe PMU is not permitted (it needs CAP_PERFMON or root).
// Any number, exact counts, on every thread, old and new (the int3 is in the address space).
//
// Mechanism (ptrace/software_breakpoints.hpp): 0xCC written over the first byte of the watched
// instruction through /proc/PID/mem. A thread that executes it traps (SIGTRAP, si_code
// SI_KERNEL, rip one past the int3: arch/x86/kernel/traps.c, do_int3_user() -> do_trap() ->
// force_sig()); the tracer sees the signal-delivery-stop and hands it to on_signal(), which
//   1. rewinds rip onto the watched instruction and reports the hit there (function, file:line
//      and stack of the thread before the instruction ran, as a hardware execute breakpoint);
//   2. steps the thread over the instruction: the original byte is put back, every OTHER thread
//      is stopped (PTRACE_INTERRUPT, ptrace/others_stop.hpp), the thread single-steps the real
//      instruction (PTRACE_SINGLESTEP), the int3 goes back, the others resume;
//   3. discards the SIGTRAP (the program never sees it).
// Why stop the others rather than emulate or step out of line: with the byte lifted, a thread
// passing the address meanwhile would run the instruction unseen (a lost hit); stopping them
// makes the count exact for every instruction whatever it is (relative branches, rip-relative
// operands, syscalls), with code the tool already has. Out-of-line stepping (as uprobes do in
// the kernel) would avoid the stop for most instructions; it is the documented next step. A
// process with one thread pays no stop at all.
//
// A step that faults (the instruction stores to a page the page engine protects) is handed to
// the page engine while the original byte is still in place (it decodes the instruction from
// memory); a fault that is the program's own is delivered to it, like any signal.
// Fork children inherit the int3 bytes (their private copy of the text): the original bytes are
// written back into the child before it runs, then the tracer lets it go. vfork children share
// the memory: they are traced like threads until they exec. exec: nothing of ours survives;
// watches by name are armed again. Detach (and stopping early): every byte restored; a thread
// that trapped just before is rewound to run the real instruction.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "delivery.hpp"
#include "hit_report.hpp"
#include "ptrace/software_breakpoints.hpp"
#include "ptrace/tracee.hpp"
#include "session_hook.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {

class Int3Arming {
 public:
  struct Hooks {
    // A fault the step over a breakpoint raised: true = the page engine completed the store.
    std::function<bool(pid_t, const siginfo_t&)> fault;
    // Threads in a stop the tracer has not handled yet (left alone by the stop of the others).
    std::function<bool(pid_t)> already_stopped;
    // PTRACE_CONT or PTRACE_SYSCALL to resume a thread with (the page engine's choice).
    std::function<int(pid_t)> resume_request;
  };
  Int3Arming(pid_t pid, WatchSet& watches, Symbolizer& symbolizer, HitSink& sink, Hooks hooks);

  // Arms execute watch `id`: an int3 at its address. Throws hwbp::Error (not mapped, not
  // writable).
  void arm(core::WatchId id);
  // hwbp's own breakpoints (session_hook.hpp: the dynamic loader's rendezvous, --at): int3s the
  // session is told about (Trap::hook, last_hook()).
  void arm_hook(SessionHook kind, std::uint64_t addr);
  void disarm_hook(SessionHook kind);
  void disarm_hooks();
  bool used() const noexcept { return breakpoints_.ever_any(); }

  enum class Trap { not_ours, hit, hook };
  // A signal-delivery-stop of tid: one of our int3 traps? If so it is handled (reported, stepped
  // over; the thread stays stopped and is resumed with signal 0 by the tracer through resume()).
  Trap on_signal(pid_t tid, const siginfo_t& info);
  // The hook of the last Trap::hook.
  SessionHook last_hook() const noexcept { return last_hook_; }
  // After the session handled a Trap::hook other than the loader's (--at, its frame's return):
  // those stop *before* the instruction, as GDB's break does (the thread is left on it, the
  // instruction not run, so a store there is seen by the watches armed at the stop). If the
  // breakpoint is still in place (the hook stays, or an x watch shares it), that watch's hit is
  // reported and the thread stepped over it; else the real instruction runs on resume.
  void finish_hook(pid_t tid);
  // A queued signal that on_signal() may have to consume before its thread is detached.
  bool may_consume(const siginfo_t& info) const noexcept;

  // Signals held while a thread stepped are replayed as new stops of it (ptrace/tracee.hpp).
  bool holds(pid_t tid) const { return tracee_.has_held_signals(tid); }
  bool resume(pid_t tid, int request, int sig) { return tracee_.resume(tid, request, sig); }
  std::optional<ptrace::WaitedStop> take_deferred() { return tracee_.take_deferred(); }
  bool has_deferred(pid_t tid) const { return tracee_.has_deferred(tid); }

  // A new task: a separate process gets the program's bytes back before it runs (its first
  // stop is waited for if `first` is empty, and stored there); a vfork child sharing the memory
  // is remembered (stopped with the threads while one steps).
  void on_new_task(pid_t creator, pid_t child, int event, std::optional<int>& first);
  void on_thread_exit(pid_t tid);

  // Restores every original byte (no stopped thread needed); the watches are dropped.
  void close_all();
  // After execve: a new address space, nothing of ours in it.
  void reset_after_exec(pid_t pid);

 private:
  void report(pid_t tid, std::uint64_t addr);
  // Runs the real instruction at `addr` in tid (rip == addr), the breakpoint lifted meanwhile.
  void step_over(pid_t tid, std::uint64_t addr);

  pid_t pid_;
  WatchSet& watches_;
  Symbolizer& symbolizer_;
  HitSink& sink_;
  Hooks hooks_;
  ptrace::Tracee tracee_;
  ptrace::SoftwareBreakpoints breakpoints_;
  std::multimap<std::uint64_t, core::WatchId> at_;  // address -> armed watches
  std::map<SessionHook, std::uint64_t> session_hooks_;
  SessionHook last_hook_ = SessionHook::loader;
  std::optional<std::pair<pid_t, std::uint64_t>> held_hook_;  // thread and address of a Trap::hook
  std::set<pid_t> vfork_children_;
};

}  // namespace hwbp::cli
