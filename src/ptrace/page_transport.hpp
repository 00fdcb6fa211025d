// The ptrace transport of the page-protection engine (issue 15): page watches of any length
// and number on a traced process, for `hwbp run` / `hwbp attach`.
//
// Mechanism. The pages holding watched bytes are made read-only (an mprotect injected into a
// stopped thread; the program's own protection is remembered in core::PageSet). Every store to
// such a page raises SIGSEGV (SEGV_ACCERR); the tracer sees the signal-delivery-stop and hands
// it to on_signal_stop(), which completes the store WITHOUT making the page writable:
//   1. emulate (most stores): decode::analyze_store computes the new bytes and registers from
//      the registers before the instruction (PTRACE_GETREGS, and NT_X86_XSTATE for a store
//      from a vector register); the bytes land in the read-only page through /proc/PID/mem
//      (FOLL_FORCE), the registers are set, the SIGSEGV is discarded;
//   2. displaced step (RMW with flags, lock-prefixed, cmpxchg, ...): the instruction re-encoded
//      rip-relative to the engine's scratch data page is single-stepped (PTRACE_SINGLESTEP) at
//      the scratch code page with the thread's real registers; the written bytes are copied
//      into the real page, rip is set after the original instruction;
//   3. last resort (scatter stores, enter, a store the other two cannot complete): every other
//      thread is stopped (PTRACE_INTERRUPT), the page gets the program's protection for one
//      single-step of the original instruction, then read-only again; the page is diffed.
//
// Exactness under threads (the guarantee, also in docs/page-engine.md). The tracer is one
// thread and handles one stop at a time; every store to a protected page stops its thread
// before it happens; paths 1 and 2 never make a protected page writable. So every store to a
// protected page, from any thread — including threads created later (protection belongs to the
// address space) — is completed by the tracer, one at a time, in the order the tracer takes
// the stops. The old bytes are read right before the tracer writes, the new bytes are what it
// writes: exact, chained (each hit's old bytes are the previous hit's new bytes), none lost,
// none reported twice. Stores to unwatched bytes of a protected page take the same path and are
// not reported; loads never fault. Path 3 stops every other thread first, so it is exact too.
// The one documented exception is a kernel write that is not redirected (below): for the
// duration of that system call its pages are writable, and a store another thread makes to
// them meanwhile is folded into the system call's reported diff.
//
// Kernel writes. While any page watch is armed the tracer resumes threads with PTRACE_SYSCALL
// (resume() does it) and hands every syscall stop to on_syscall_stop():
//   - read family (read, pread64, readv, preadv, preadv2, recvfrom's buffer, getrandom,
//     getdents64, readlink(at)): the output buffer argument is redirected to a scratch buffer of
//     the engine's; at the exit stop the result is copied into the real buffer through
//     /proc/PID/mem and reported as a store naming the system call; the argument register is
//     restored. The program sees the same result, never EFAULT.
//   - other system calls with known output pointers (syscall_table.hpp; fstat, wait4, pipe,
//     recvmsg, epoll_wait, futex PI operations, _IOR ioctls, ...): the overlapping protected
//     pages get the program's protection for the call (injected mprotect; the call is rewound
//     and re-executed), they are diffed and re-protected at its exit.
//   - memory management: munmap, mremap, mmap(MAP_FIXED), brk, shmdt that remove watched
//     memory end those watches with a PageEnd ("its memory was unmapped by munmap"); the
//     program's own mprotect is recorded (applied without PROT_WRITE: the argument is rewritten
//     at entry, so a watched page is never writable); madvise(MADV_DONTNEED/FREE/REMOVE)
//     changes are reported as stores by madvise; mremap that moves or grows watched memory
//     ends the watch and gives the moved pages the program's protection.
//   - rseq/set_robust_list/set_tid_address registering an area in a protected page (the kernel
//     writes those outside system calls): the watches on that page end, the page is released.
// Signals: a signal delivered to a handler whose frame would be written into a protected page
// (a watched stack) is delivered with that page released for the frame write (diffed, reported
// as "signal frame", re-protected).
// fork / clone without CLONE_VM: the child gets the program's protection back and the engine's
// scratch memory unmapped before it runs an instruction, then it is detached. vfork (and
// posix_spawn's CLONE_VM|CLONE_VFORK) children share the address space: they are handled like
// threads until they exec, then detached. exec: the address space is new; every watch ends
// (reason "exec"); the caller re-arms by name.
// Refused (one line each): r/rw/x watches, shared mappings (another process writes them
// unseen, and /proc/PID/mem cannot write read-only shared pages), hugetlb, unmapped memory, pages
// holding a thread's rseq area, processes under a seccomp filter (injected syscalls could be
// fatal to them).
//
// What the CLI tracer must do (integration contract):
//   - PTRACE_SEIZE every thread with PTRACE_O_TRACECLONE | TRACEFORK | TRACEVFORK | TRACEEXEC |
//     TRACEEXIT | TRACESYSGOOD (TRACESYSGOOD is required: syscall stops are told apart by it).
//   - Before every waitpid, drain take_deferred(): stops the engine collected or replayed; handle
//     each exactly like a stop waitpid returned.
//   - Resume every thread through resume(tid, sig) (PTRACE_SYSCALL while watches are armed,
//     else PTRACE_CONT; a false return means "not resumed: a held signal was turned into a new
//     stop of it", found in take_deferred()). PTRACE_LISTEN for group-stops stays the tracer's.
//   - Signal-delivery-stop: on_signal_stop(tid, info) first; true = consumed (resume with 0).
//   - Syscall stop (WSTOPSIG == SIGTRAP|0x80): on_syscall_stop(tid), then resume(tid, 0).
//   - PTRACE_EVENT_FORK/VFORK/CLONE: on_new_task(creator, child, event, child's first status if
//     the tracer already collected it). `detached`: forget the child (never resume it);
//     `traced`: a thread or vfork child to trace like any thread.
//   - PTRACE_EVENT_EXEC: on_exec(tid); `detach_child` means a vfork child exec'd: detach it.
//   - PTRACE_EVENT_EXIT: on_thread_exit(tid).
//   - A new task's first stop that arrives before its creator's PTRACE_EVENT_* stop: keep it and
//     pass it to on_new_task() when that event comes (do not resume it before).
//   - Arming, disarming and release() need one thread in a ptrace-stop that is neither a
//     group-stop nor a syscall stop (e.g. the exec stop of `hwbp run`, or a PTRACE_INTERRUPT
//     stop), which the tracer resumes afterwards as usual; no other thread may be held in a
//     stop the tracer collected and has not resumed (arming stops every other thread).
//   - Call release() before detaching: it restores every page's protection, points redirected
//     system calls back at the program's buffers and unmaps the scratch memory, leaving the
//     program as if never watched.
//   - Hits and ends arrive through the callbacks while the storing thread is stopped, its
//     registers already *after* the store (rip = next_ip), like a hardware data-breakpoint trap:
//     the caller can unwind the live thread (symbols::backtrace_thread) inside the callback.
//     Callbacks must not arm or disarm (the engine is walking its watches).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hwbp/types.hpp"
#include "ptrace/registers.hpp"
#include "ptrace/tracee.hpp"

namespace hwbp::ptrace {

// One store that touched a watch.
struct PageHit {
  std::uint64_t watch_id = 0;
  pid_t tid = 0;
  std::uint64_t addr = 0;                          // first watched byte the store touched
  std::vector<std::uint8_t> old_bytes, new_bytes;  // the watched bytes it touched, exact
  std::uint64_t pc = 0;       // the storing instruction; a kernel write: the syscall instruction
  std::uint64_t next_ip = 0;  // where the thread resumes
  Access access = Access::write;
  const char* syscall = nullptr;  // set when the kernel stored: "read", "madvise", "signal frame"
  // Registers before the store (rip == pc); for a kernel write, at the system call's exit.
  GeneralRegisters regs{};
};

// A watch that ended: its memory went away, or the address space was replaced.
struct PageEnd {
  std::uint64_t watch_id = 0;
  pid_t tid = 0;         // the thread whose action ended it (0 when none)
  std::uint64_t pc = 0;  // that thread's system call instruction (0 when none)
  std::string reason;    // one line, e.g. "its memory was unmapped by munmap"
};

struct PageStats {
  std::uint64_t emulated = 0, displaced = 0, last_resort = 0;  // stores completed, by path
  std::uint64_t unwatched = 0;       // of those, stores that touched no watched byte
  std::uint64_t redirected = 0;      // system-call outputs copied in by the engine
  std::uint64_t released_calls = 0;  // system calls run with their pages released and diffed
  std::uint64_t signal_frames = 0;   // signal frames written into released pages
  std::uint64_t foreign_faults = 0;  // SIGSEGVs passed on to the program
  std::uint64_t injections = 0;      // system calls injected
};

struct PageCallbacks {
  std::function<void(const PageHit&)> on_hit;
  std::function<void(const PageEnd&)> on_end;
};

enum class NewTask { traced, detached };
enum class ExecOutcome { process, detach_child };

class PageTransport {
 public:
  PageTransport(pid_t pid, PageCallbacks callbacks);
  ~PageTransport();
  PageTransport(const PageTransport&) = delete;
  PageTransport& operator=(const PageTransport&) = delete;

  pid_t pid() const noexcept;

  // Arms a watch of [addr, addr + len) (write or modify); returns its id. All or nothing.
  // Throws hwbp::Error with a one-line reason (invalid_request: r/rw/x, unmapped, shared,
  // hugetlb, rseq page; unsupported: seccomp, no syscall gateway; system).
  std::uint64_t arm(pid_t stopped_tid, std::uint64_t addr, std::uint64_t len, Access access);
  // Removes a watch; pages no other watch needs get the program's protection back.
  void disarm(pid_t stopped_tid, std::uint64_t id);
  // Watches armed (and not ended).
  std::size_t armed_count() const noexcept;
  bool alive(std::uint64_t id) const noexcept;
  std::uint64_t hits(std::uint64_t id) const noexcept;

  // PTRACE_SYSCALL while watches are armed, else PTRACE_CONT.
  int resume_request() const noexcept;
  bool resume(pid_t tid, int sig);
  std::optional<WaitedStop> take_deferred();
  // Is a stop of tid collected and waiting in take_deferred() (the thread is stopped)?
  bool has_deferred(pid_t tid) const;

  bool on_signal_stop(pid_t tid, const siginfo_t& info);
  void on_syscall_stop(pid_t tid);
  NewTask on_new_task(pid_t creator, pid_t child, int event, std::optional<int> child_first_status);
  ExecOutcome on_exec(pid_t tid);
  void on_thread_exit(pid_t tid);
  void release(pid_t stopped_tid);

  PageStats stats() const noexcept;

  struct State;  // page_transport_state.hpp

 private:
  std::unique_ptr<State> s_;
};

}  // namespace hwbp::ptrace
