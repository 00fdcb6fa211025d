// Kernel writes and memory management seen in-process, with syscall user dispatch
// (prctl(PR_SET_SYSCALL_USER_DISPATCH), Linux 5.11; kernel/entry/syscall_user_dispatch.c).
//
// While a page watch is armed, every thread's system calls made outside the engine's own code
// section (raw_syscall.hpp) raise SIGSYS before they run; the handler runs each one itself from
// that section:
//   - read family (read, pread64, recvfrom, getrandom; readv, preadv, preadv2, recvmsg through
//     their iovecs) whose output buffer lies on a protected page: the kernel writes into a
//     scratch mapping, and the engine copies the result into the real buffer under its lock —
//     an exact store, reported with the system call's name (PageHit::syscall). No EFAULT.
//   - munmap, mremap, madvise(MADV_DONTNEED/FREE/REMOVE), mmap(MAP_FIXED), shmdt, brk over
//     watched memory: the watches there end (PageEnd names the call), then the call runs.
//   - mprotect/pkey_mprotect over a protected page: the program's protection is recorded and
//     applied without PROT_WRITE while the page stays watched.
//   - other calls with a pointer argument into a protected page: the pointed-to pages are made
//     writable for the call with the engine lock held, diffed and re-protected (exact but for a
//     store another thread makes to those pages during that call; counted in Stats).
//   - clone/clone3/fork/vfork, rt_sigreturn: re-executed natively from the section with the
//     program's registers (the kernel does not carry the dispatch setting into a new thread,
//     fork child or exec image — measured on 6.18 — so the new thread turns it on first thing).
//   - everything else: run as is.
// The setting is per thread: arming signals every existing thread (SIGSYS with a queued value)
// to turn it on for itself, and new threads turn it on in the clone stub; removing the last
// page watch signals them to turn it off. A thread never has dispatch on with the selector at
// ALLOW: it could then block SIGSYS natively and be killed by its next dispatched call.
#pragma once

namespace hwbp::page {

// Empty when syscall user dispatch works here; else why kernel writes into watched pages are
// not intercepted (they then fail with EFAULT).
const char* syscall_dispatch_unavailable() noexcept;

}  // namespace hwbp::page
