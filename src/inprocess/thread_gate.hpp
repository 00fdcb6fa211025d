// Arming a watch on every thread of this process, exactly: no thread is created while the
// threads are listed and their events opened.
//
// Why: perf covers a process by one inherited event per thread listed in /proc/self/task, and the
// kernel copies a thread's inherited events into each thread it creates (kernel/fork.c,
// copy_process -> perf_event_init_task). A thread created while the list is being covered has a
// copy if its creator was covered before the clone, and none otherwise; userspace cannot tell
// which (no interface lists a task's inherited events). Re-scanning found it, but opening an
// event on one that already had a copy gave it two: a second debug-register slot (a spurious
// ENOSPC once the slots are full, blamed on "another debugger") and each hit counted twice.
//
// The library therefore interposes pthread_create (as it interposes sigaction for SIGTRAP, by
// symbol, the next definition found with RTLD_NEXT): every creation holds a shared gate across
// the clone, and the process-wide arming holds it exclusively. While it does, each thread either
// existed before (listed, no copy: its creator had no event yet) or is created after (all
// threads are covered: it inherits). What remains: threads created without pthread_create (a raw
// clone(2)/clone3(2), or glibc's own internal helper threads) are covered by the re-scan as before.
#pragma once

namespace hwbp::inprocess {

// Holds the gate exclusively for its lifetime: no pthread_create of this process is in progress
// or can start. Must not be held by a thread that then creates a thread (it would wait forever).
class ThreadCreationPause {
 public:
  ThreadCreationPause();
  ~ThreadCreationPause();
  ThreadCreationPause(const ThreadCreationPause&) = delete;
  ThreadCreationPause& operator=(const ThreadCreationPause&) = delete;
};

}  // namespace hwbp::inprocess
