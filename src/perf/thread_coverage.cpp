#include "perf/thread_coverage.hpp"

#include <cerrno>
#include <algorithm>
#include <iterator>
#include <string>

#include "perf/capabilities.hpp"
#include "perf/cpus.hpp"
#include "perf/errors.hpp"
#include "perf/threads.hpp"

namespace hwbp::perf {
namespace {

// Bound on re-scans: a process that creates threads faster than we can open events forever
// is refused rather than looped on.
constexpr int kMaxScans = 1000;

[[noreturn]] void fail(int err, const BreakpointAttr& attr, pid_t pid, int cpu,
                       const SlotsHeld& held) {
  OpenContext ctx;
  ctx.attr = &attr;
  ctx.pid = pid;
  ctx.cpu = cpu;
  ctx.slots_total = capabilities().slots;
  ctx.slots_ours = held && pid > 0 ? held(pid) : 0;
  ctx.slots_ours_unknown = !held;
  throw error_from_errno(err, ctx);
}

// Opens one event on `tid`. Returns false when the thread exited meanwhile (ESRCH).
bool open_one(const BreakpointAttr& attr, pid_t tid, ThreadEvents& out, const SlotsHeld& held) {
  Event event;
  int rc = Event::try_open(attr, tid, -1, event);
  if (rc == -ESRCH) return false;
  if (rc < 0) fail(-rc, attr, tid, -1, held);
  out.events.push_back(std::move(event));
  out.tids.push_back(tid);
  return true;
}

}  // namespace

ThreadEvents open_on_thread(const BreakpointAttr& base, pid_t tid, const SlotsHeld& held) {
  BreakpointAttr attr = base;
  attr.inherit = attr.inherit_thread = false;
  ThreadEvents out;
  if (!open_one(attr, tid, out, held))
    throw Error(Errc::no_such_thread,
                "thread " + std::to_string(tid) +
                    " does not exist (it exited?); watch an existing thread",
                ESRCH);
  return out;
}

void for_each_thread_until_stable(pid_t pid, const std::function<bool(pid_t)>& open_one,
                                  const std::function<void(std::size_t)>& reserve) {
  std::vector<pid_t> seen;  // sorted: list_threads() returns sorted ids
  for (int scan = 0; scan < kMaxScans; ++scan) {
    const std::vector<pid_t> tids = list_threads(pid);
    std::vector<pid_t> fresh;
    std::set_difference(tids.begin(), tids.end(), seen.begin(), seen.end(), std::back_inserter(fresh));
    if (fresh.empty()) {
      if (seen.empty())
        throw Error(Errc::no_such_thread,
                    "process " + std::to_string(pid) + " has no threads left (it exited)", ESRCH);
      return;
    }
    if (reserve) reserve(fresh.size());
    for (pid_t tid : fresh) open_one(tid);
    std::vector<pid_t> merged;
    merged.reserve(seen.size() + fresh.size());
    std::merge(seen.begin(), seen.end(), fresh.begin(), fresh.end(), std::back_inserter(merged));
    seen = std::move(merged);
  }
  throw Error(Errc::system,
              "threads kept appearing through " + std::to_string(kMaxScans) +
                  " scans of /proc/PID/task; arm the watch before starting worker threads",
              EAGAIN);
}

ThreadEvents open_on_process(const BreakpointAttr& base, pid_t pid, const SlotsHeld& held) {
  BreakpointAttr attr = base;
  // inherit_thread: copies go to new threads only, never to fork children (which start clean).
  // Before Linux 5.13 there is no inherit_thread: fork children then inherit the watches too,
  // which is the closest available behaviour.
  attr.inherit = true;
  attr.inherit_thread = capabilities().inherit_thread;
  ThreadEvents out;
  for_each_thread_until_stable(
      pid, [&](pid_t tid) { return open_one(attr, tid, out, held); },
      [&](std::size_t n) {
        out.events.reserve(out.events.size() + n);
        out.tids.reserve(out.tids.size() + n);
      });
  return out;
}

ThreadEvents open_on_cpus(const BreakpointAttr& base) {
  // One CPU-bound event per online CPU (pid -1). The admission rule checks every possible CPU;
  // an offline one has no event to open.
  BreakpointAttr attr = base;
  attr.inherit = attr.inherit_thread = attr.sigtrap = false;
  ThreadEvents out;
  for (int cpu : online_cpus()) {
    Event event;
    int rc = Event::try_open(attr, -1, cpu, event);
    if (rc < 0) fail(-rc, attr, -1, cpu, {});
    out.events.push_back(std::move(event));
    out.tids.push_back(-1);
  }
  return out;
}

}  // namespace hwbp::perf
