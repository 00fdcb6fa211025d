#include "inprocess/coverage.hpp"

#include <algorithm>
#include <cerrno>
#include <set>

#include "perf/capabilities.hpp"
#include "perf/cpus.hpp"
#include "perf/errors.hpp"
#include "perf/threads.hpp"

namespace hwbp::inprocess {
namespace {

// Bound on re-scans: a process that creates threads faster than we can open events forever
// is refused rather than looped on.
constexpr int kMaxScans = 1000;

[[noreturn]] void fail(int err, const perf::BreakpointAttr& attr, pid_t tid,
                       const std::function<unsigned(pid_t)>& slots_ours) {
  perf::OpenContext ctx;
  ctx.attr = &attr;
  ctx.pid = tid;
  ctx.slots_total = perf::capabilities().slots;
  ctx.slots_ours = slots_ours ? slots_ours(tid) : 0;
  throw perf::error_from_errno(err, ctx);
}

// Opens one event on `tid`. Returns false when the thread exited meanwhile (ESRCH).
bool open_one(const perf::BreakpointAttr& attr, pid_t tid, ThreadEvents& out,
              const std::function<unsigned(pid_t)>& slots_ours) {
  perf::Event event;
  int rc = perf::Event::try_open(attr, tid, -1, event);
  if (rc == -ESRCH) return false;
  if (rc < 0) fail(-rc, attr, tid, slots_ours);
  out.events.push_back(std::move(event));
  out.tids.push_back(tid);
  return true;
}

}  // namespace

ThreadEvents open_on_target(const perf::BreakpointAttr& base, const Target& target,
                            const std::function<unsigned(pid_t)>& slots_ours) {
  ThreadEvents out;
  perf::BreakpointAttr attr = base;
  if (target.kind == Target::Kind::cpus) {
    // One CPU-bound event per online CPU (pid -1). The admission rule checked every possible
    // CPU; an offline one has no event to open.
    attr.inherit = attr.inherit_thread = attr.sigtrap = false;
    for (int cpu : perf::online_cpus()) {
      perf::Event event;
      int rc = perf::Event::try_open(attr, -1, cpu, event);
      if (rc < 0) {
        perf::OpenContext ctx;
        ctx.attr = &attr;
        ctx.pid = -1;
        ctx.cpu = cpu;
        throw perf::error_from_errno(-rc, ctx);
      }
      out.events.push_back(std::move(event));
      out.tids.push_back(-1);
    }
    return out;
  }
  if (target.kind == Target::Kind::thread) {
    attr.inherit = false;
    attr.inherit_thread = false;
    if (!open_one(attr, target.tid, out, slots_ours))
      throw Error(Errc::no_such_thread,
                  "thread " + std::to_string(target.tid) +
                      " does not exist (it exited?); watch an existing thread of this process",
                  ESRCH);
    return out;
  }
  // inherit_thread: copies go to new threads only, never to fork children (which start clean).
  // Before Linux 5.13 there is no inherit_thread: fork children then inherit the watches too
  // (their hits reach the handler they inherited), which is the closest available behaviour.
  attr.inherit = true;
  attr.inherit_thread = perf::capabilities().inherit_thread;
  std::set<pid_t> seen;
  for (int scan = 0; scan < kMaxScans; ++scan) {
    bool found_new = false;
    for (pid_t tid : perf::list_threads(0)) {
      if (!seen.insert(tid).second) continue;
      found_new = true;
      open_one(attr, tid, out, slots_ours);
    }
    if (!found_new) return out;
  }
  throw Error(Errc::system,
              "threads kept appearing through " + std::to_string(kMaxScans) +
                  " scans of /proc/self/task; arm the watch before starting worker threads",
              EAGAIN);
}

}  // namespace hwbp::inprocess
