// Realises one breakpoint on the threads it must cover: one perf event per thread (or per CPU).
//
// A whole process is covered the way perf covers `-p PID` (tools/perf/util/thread_map.c: one
// event per thread listed in /proc/PID/task), with inheritance for later threads: list it, open an
// inherited (inherit + inherit_thread) event per thread, re-scan until a scan finds no new
// thread (closing the race with threads created meanwhile); threads created later get the
// kernel's inherited copy at clone. All or nothing: on any failure everything opened is closed
// (RAII) and a typed error is thrown. Used by the in-process library and by the CLI's tracer.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <vector>

#include "perf/event.hpp"

namespace hwbp::perf {

struct ThreadEvents {
  ThreadEvents() = default;
  ThreadEvents(ThreadEvents&&) = default;
  // The old events are closed before the memory they made the kernel read is let go.
  ThreadEvents& operator=(ThreadEvents&& other) noexcept {
    events = std::move(other.events);
    tids = std::move(other.tids);
    kernel_reads = std::move(other.kernel_reads);
    return *this;
  }

  // Memory the kernel reads while the events live (an inherited uprobe's path, perf/uprobe.hpp);
  // declared first, so it is freed after the events are closed.
  std::shared_ptr<const void> kernel_reads;
  std::vector<Event> events;
  std::vector<pid_t> tids;  // tids[i] is the thread events[i] was opened on (-1: a CPU event)
};

// How many slots the caller already holds on a thread, for ENOSPC messages (may be empty).
using SlotsHeld = std::function<unsigned(pid_t)>;

// Calls open_one(tid) for every thread of process `pid` (0 = this process), re-scanning
// /proc/PID/task until a scan finds no new thread (the rule above, for any kind of event: the
// events must be inherited so that later threads get copies). open_one returns false when the
// thread exited meanwhile; reserve(n), if given, is told how many open_one calls a scan makes.
// Throws when the process has no threads or they never stop appearing.
void for_each_thread_until_stable(pid_t pid, const std::function<bool(pid_t)>& open_one,
                                  const std::function<void(std::size_t)>& reserve = {});

// Every thread of process `pid` (0 = this process), existing and future.
ThreadEvents open_on_process(const BreakpointAttr& attr, pid_t pid, const SlotsHeld& held = {});
// One thread only (not the threads it creates later).
ThreadEvents open_on_thread(const BreakpointAttr& attr, pid_t tid, const SlotsHeld& held = {});
// Every task on every online CPU (CPU-bound events; counting only: no sigtrap for CPU events).
ThreadEvents open_on_cpus(const BreakpointAttr& attr);

}  // namespace hwbp::perf
