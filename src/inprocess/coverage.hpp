// Realises one slot on the threads a target covers: one perf event per thread.
//
// A process target follows perf-breakpoint-api.md section 7: list /proc/self/task, open an
// inherited (inherit + inherit_thread) event per thread, re-scan until a scan finds no new
// thread (closing the race with threads created meanwhile); threads created later get the
// kernel's inherited copy at clone. All or nothing: on any failure everything opened is closed.
#pragma once

#include <sys/types.h>

#include <functional>
#include <vector>

#include "hwbp/hwbp.hpp"
#include "perf/event.hpp"

namespace hwbp::inprocess {

struct ThreadEvents {
  std::vector<perf::Event> events;
  std::vector<pid_t> tids;  // tids[i] is the thread events[i] was opened on
};

// `slots_ours(tid)`: how many slots hwbp already holds on that thread (for ENOSPC messages).
ThreadEvents open_on_target(const perf::BreakpointAttr& attr, const Target& target,
                            const std::function<unsigned(pid_t)>& slots_ours);

}  // namespace hwbp::inprocess
