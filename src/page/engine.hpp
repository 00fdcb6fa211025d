// The page-protection watch engine, in-process transport (the library).
//
// Arming a page watch makes the pages holding its bytes read-only (mprotect, the program's own
// PROT_EXEC etc. kept). Every store to such a page faults; the SIGSEGV handler, in the storing
// thread, completes the store WITHOUT making the page writable again:
//   1. emulate: decode::analyze_store computes the new bytes and registers; the bytes land in
//      the read-only page through /proc/self/mem (the kernel writes with FOLL_FORCE, which
//      breaks copy-on-write and ignores the VMA's missing VM_WRITE: mm/gup.c, mem_rw() in
//      fs/proc/base.c), the registers are updated in the signal frame;
//   2. displaced step: the instruction re-encoded rip-relative to a scratch data area is
//      single-stepped (TF) at a scratch code page with the thread's real registers; the SIGTRAP
//      that follows copies the scratch bytes into the real page and resumes after the original;
//   3. last resort (an instruction neither can handle, see docs/page-engine.md): the page is
//      made writable for one single-step of the original instruction.
//
// Exactness under threads (the guarantee): one process-wide lock serializes every resolution
// from the fault to the resume, and no protected page is ever writable while watched (paths 1
// and 2), so a racing store from any thread — including threads created later: protection
// belongs to the address space — faults too and waits for the lock. Each store is therefore
// seen exactly once, in the order the lock serialized them; its old bytes are read under the
// lock right before the engine writes, its new bytes are what the engine wrote, so consecutive
// hits chain (old == previous new). Stores to unwatched bytes of a protected page take the same
// path and are not reported; loads never fault. Path 3 opens a window of one instruction in
// which another thread's store to the same page is not seen; it is counted (Stats::last_resort).
//
// Kernel writes (read(2) into a watched buffer, ...) and the program's memory management are
// handled by syscall_dispatch.hpp (syscall user dispatch) where the kernel has it.
//
// Hits are delivered to the watch's callback in the storing thread, in signal context, under
// the lock (a callback may store to watched memory: it is handled recursively).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hwbp/types.hpp"

namespace hwbp::page {

// One store that touched a watch. Valid only during the callback.
struct PageHit {
  std::uint64_t watch_id = 0;
  pid_t tid = 0;
  std::uintptr_t addr = 0;        // first watched byte the store touched
  std::size_t len = 0;            // watched bytes it touched (old_bytes/new_bytes hold len bytes)
  std::uintptr_t pc = 0;          // the storing instruction (for a kernel write: after the syscall)
  std::uintptr_t next_ip = 0;     // where the thread resumes (hardware hits report this one)
  Access access = Access::write;
  const std::uint8_t* old_bytes = nullptr;
  const std::uint8_t* new_bytes = nullptr;
  const char* syscall = nullptr;  // set when the kernel made the store on the program's behalf
  void* context = nullptr;        // ucontext_t* of the storing thread (registers before the store)
  // The bytes are this store's own even when other threads store to the page at the same time
  // (issue 17). False on the two paths that open the page for a moment (the last resort's
  // in-place step, a system call run with the page writable): a racing store there is not seen.
  bool exact = true;
};

// A watch that ended because its memory went away (munmap, mremap, madvise(MADV_DONTNEED)...).
struct PageEnd {
  std::uint64_t watch_id = 0;
  const char* syscall = "";  // the system call that took the memory
  std::uintptr_t pc = 0;     // where the program made it
  pid_t tid = 0;
};

using PageCallback = std::function<void(const PageHit&)>;
using EndCallback = std::function<void(const PageEnd&)>;

struct PageWatchOptions {
  std::uintptr_t addr = 0;
  std::size_t len = 0;
  Access access = Access::modify;  // write or modify (r/rw/x are refused: core::page_refusal_reason)
  PageCallback callback;           // may be empty: counting only
  EndCallback on_end;              // may be empty
};

struct Stats {
  std::uint64_t emulated = 0;        // stores completed by emulation
  std::uint64_t displaced = 0;       // by a displaced single-step
  std::uint64_t last_resort = 0;     // by un-protecting for one step (see above)
  std::uint64_t kernel_writes = 0;   // system-call output copied in by the engine
  std::uint64_t unwatched = 0;       // of those, stores that touched no watched byte
  std::uint64_t foreign_faults = 0;  // SIGSEGVs passed on to the program's handler
  std::uint64_t unprotected_syscalls = 0;  // system calls run with their pages writable (see
                                           // syscall_dispatch.hpp): not exact against other threads
};

// Why the page engine cannot run in this process, or empty when it can (probes /proc/self/mem
// writes into a read-only page once).
std::string unavailable_reason();

// Arms a page watch (all or nothing). Throws hwbp::Error: invalid_request (r/rw/x, empty range,
// memory not mapped, a page holding the calling thread's stack, where the kernel writes signal
// frames), unsupported (no /proc/self/mem), system.
std::uint64_t arm(const PageWatchOptions& options);
// Removes a watch; its pages no other watch needs get the program's protection back.
void disarm(std::uint64_t id) noexcept;
// Stores reported to the watch (after the modify filter).
std::uint64_t hits(std::uint64_t id) noexcept;
// False once the watch's memory went away (its PageEnd was delivered) or it was disarmed.
bool alive(std::uint64_t id) noexcept;
Stats stats() noexcept;
std::size_t armed_count() noexcept;

}  // namespace hwbp::page
