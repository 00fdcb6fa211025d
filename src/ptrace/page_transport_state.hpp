// The ptrace page transport's shared state and helpers (internal: for the page_*.cpp files of
// src/ptrace only). One concept per file: page_transport.cpp (arming, resuming, lifecycle),
// page_store.cpp (SIGSEGV: completing stores), page_syscalls.cpp (system-call stops),
// page_signal_frame.cpp (signal frames on watched stacks), page_world_stop.cpp (stopping every
// other thread).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/page_set.hpp"
#include "decode/store_analysis.hpp"
#include "ptrace/others_stop.hpp"
#include "ptrace/page_transport.hpp"
#include "ptrace/scratch_area.hpp"
#include "ptrace/scratch_buffers.hpp"
#include "ptrace/syscall_injector.hpp"
#include "ptrace/syscall_table.hpp"
#include "ptrace/tracee.hpp"

namespace hwbp::ptrace {

// A system call of one thread between its entry and exit stops, when the engine acted on it.
struct InFlightCall {
  enum class Kind {
    redirect,      // output buffer moved to scratch (args rewritten); copy in at exit
    redirect_iov,  // iovec array moved to one scratch iovec; scatter at exit
    released,      // pages given the program's protection for the call; diff at exit
    unmap,         // munmap / mmap(MAP_FIXED) / shmdt-like: watches in [addr, addr+len) end
    remap,         // mremap
    protect,       // the program's mprotect (prot argument rewritten without PROT_WRITE)
    discard,       // madvise that drops contents: diff at exit
    check_mapped,  // brk, shmdt...: watches whose memory is no longer mapped end at exit
    rewound,       // the engine injected at entry and rewound: the same entry comes again
    none,
  };
  Kind kind = Kind::rewound;
  Kind after_rewind = Kind::none;  // rewound: what the repeated entry is
  long nr = -1;
  std::array<std::uint64_t, 6> args{};
  std::uint64_t pc = 0;  // the syscall instruction
  // redirect / redirect_iov
  int arg = -1;               // the argument register rewritten (and the iov count's, +1)
  std::uint64_t scratch = 0;  // the scratch buffer
  std::vector<std::pair<std::uint64_t, std::uint64_t>> iov;  // real buffers, in order
  // released / discard: snapshot of the affected pages
  std::vector<core::PageRange> pages;
  std::vector<std::uint8_t> snapshot;
};

struct WatchInfo {
  std::uint64_t hits = 0;
  bool alive = true;
};

struct PageTransport::State {
  State(pid_t pid, PageCallbacks cb) : tracee(pid), callbacks(std::move(cb)) {}

  Tracee tracee;
  PageCallbacks callbacks;
  core::PageSet set;
  std::map<std::uint64_t, WatchInfo> watches;
  std::uint64_t next_id = 1;
  PageStats stats;
  std::uint64_t gateway = 0;  // a `syscall` instruction: the scratch area's once mapped
  ScratchArea scratch;
  std::vector<std::uint8_t> step_code;  // what the scratch step slot holds now
  ScratchBuffers buffers;
  std::map<pid_t, InFlightCall> in_flight;
  std::map<std::uint64_t, unsigned> released;  // page -> system calls running with it released
  std::set<pid_t> vfork_children;              // share the address space until they exec
  std::map<pid_t, std::pair<std::uint64_t, std::uint64_t>> last_retry;  // tid -> (addr, rip)
  std::vector<core::PageRange> pending_protect;                         // see apply_pending

  // Opens an injection session in tid (finding a gateway the first time).
  InjectionSession inject(pid_t tid);
  std::uint64_t ensure_gateway();
  // The scratch area (mapped on first use through `session`).
  const ScratchArea& scratch_area(InjectionSession& session);
  // mprotect in the target through `session`; throws hwbp::Error with the reason.
  void mprotect(InjectionSession& session, std::uint64_t addr, std::uint64_t len, int prot);
  // Applies to every page of `range` we hold its protection: the program's without PROT_WRITE
  // (protect) or the program's own (release).
  void protect(InjectionSession& session, const core::PageRange& range);
  void unprotect(InjectionSession& session, const core::PageRange& range);

  // Reports [addr, addr + len) going from old to new bytes to every watch it touches.
  void report(pid_t tid, std::uint64_t addr, std::uint64_t len, const std::uint8_t* old_bytes,
              const std::uint8_t* new_bytes, std::uint64_t pc, std::uint64_t next_ip, const char* syscall,
              const GeneralRegisters& regs);
  // Reports each changed run between a snapshot and the current contents of `pages`.
  void report_diff(pid_t tid, const std::vector<core::PageRange>& pages,
                   const std::vector<std::uint8_t>& snapshot, std::uint64_t pc, std::uint64_t next_ip,
                   const char* syscall, const GeneralRegisters& regs);
  std::vector<std::uint8_t> snapshot(const std::vector<core::PageRange>& pages) const;
  // The protected pages of [addr, addr + len), as maximal ranges.
  std::vector<core::PageRange> protected_in(std::uint64_t addr, std::uint64_t len) const;

  // Ends the watches with a byte in the pages of [addr, addr + len) with `reason`. memory_gone:
  // those pages are no longer this memory (forgotten: nothing to restore there). Pages of the
  // ended watches that remain and no other watch needs get the program's protection back
  // through `session` (null: nothing can be injected, e.g. after exec).
  void end_watches(InjectionSession* session, std::uint64_t addr, std::uint64_t len, pid_t tid,
                   std::uint64_t pc, const std::string& reason, bool memory_gone = true);
  // Ends the watches whose pages are no longer mapped (after brk, shmdt...).
  void end_unmapped(InjectionSession* session, pid_t tid, std::uint64_t pc, const char* syscall);
  // Re-protects pages whose release ended without the engine (a thread died in its call).
  void apply_pending(InjectionSession& session);

  // The public entry points' bodies (ThreadGone handled by the callers).
  bool signal_stop(pid_t tid, const siginfo_t& info);
  void syscall_stop(pid_t tid);
  bool overlaps_scratch(std::uint64_t addr, std::uint64_t len) const;
  void forget_scratch();

  // Completing a store that faulted (page_store.cpp). False: not the engine's to complete.
  bool complete_store(pid_t tid, std::uint64_t fault_addr);
  bool emulate(pid_t tid, const GeneralRegisters& regs, const decode::StoreAnalysis& a);
  bool displaced_step(pid_t tid, const GeneralRegisters& regs, const decode::StoreAnalysis& a);
  bool last_resort(pid_t tid, const GeneralRegisters& regs, std::uint64_t fault_addr);
  // System-call stops (page_syscalls.cpp).
  void syscall_entry(pid_t tid, long nr, const std::array<std::uint64_t, 6>& args, std::uint64_t pc);
  void syscall_exit(pid_t tid, long rval, std::uint64_t pc);
  void entry_redirect(pid_t tid, const SyscallEffect& e, InFlightCall c,
                      const std::optional<InFlightCall>& rewound);
  void entry_release(pid_t tid, std::vector<OutputRange> outputs, InFlightCall c,
                     const std::optional<InFlightCall>& rewound);
  void exit_redirect(pid_t tid, const InFlightCall& c, long rval, GeneralRegisters& regs);
  void exit_remap(pid_t tid, const InFlightCall& c, long rval);
  void exit_protect(pid_t tid, const InFlightCall& c);
  // A released call ended: its pages no other call holds are protected again.
  void reprotect(pid_t tid, const std::vector<core::PageRange>& pages);
  // Forgets a call whose exit never came (the thread left it another way).
  void drop(const InFlightCall& c);
  // Delivers signal sig to its handler now if its frame would be written into protected
  // pages (page_signal_frame.cpp); false when nothing special is needed.
  bool deliver_signal_frame(pid_t tid, int sig);

  bool armed() const noexcept { return set.watch_count() != 0; }
};

// Stops every thread of the process but `except` (others_stop.hpp), so that nothing runs
// while the engine changes protections (arming) or makes a page writable (last resort).
// Stops that are not our interrupt's are deferred to the tracer (those threads stay stopped
// until it resumes them); interrupted threads are resumed by resume_all() / the destructor.
class WorldStop {
 public:
  WorldStop(PageTransport::State& s, pid_t except);
  // Threads that are stopped now (interrupted by us, or in a deferred stop).
  const std::vector<pid_t>& stopped() const noexcept { return stop_.stopped(); }
  void resume_all() { stop_.resume_all(); }

 private:
  OthersStop stop_;
};

// Reads a syscall's in-memory argument structures (iovecs, socklen_t) from the target.
struct TargetReader {
  const Tracee& tracee;
  bool operator()(std::uint64_t addr, void* out, std::size_t len) const;
};

// Syscall argument i (0..5) in the registers: rdi, rsi, rdx, r10, r8, r9.
unsigned long long& argument(GeneralRegisters& r, int i);
inline void set_argument(GeneralRegisters& r, int i, std::uint64_t v) { argument(r, i) = v; }

}  // namespace hwbp::ptrace
