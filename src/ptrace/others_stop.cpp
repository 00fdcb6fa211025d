#include "ptrace/others_stop.hpp"

#include <signal.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include <chrono>

#include "perf/threads.hpp"
#include "ptrace/sys_error.hpp"

namespace hwbp::ptrace {
namespace {

bool is_group_stop_signal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

}  // namespace

OthersStop::OthersStop(Tracee& tracee, pid_t except, const std::vector<pid_t>& extra, Hooks hooks)
    : tracee_(tracee), hooks_(std::move(hooks)) {
  std::vector<pid_t> tids = perf::list_threads(tracee.pid());
  tids.insert(tids.end(), extra.begin(), extra.end());
  std::vector<pid_t> asked;
  for (pid_t tid : tids) {
    if (tid == except) continue;
    if (tracee.has_deferred(tid) || (hooks_.already_stopped && hooks_.already_stopped(tid))) {
      stopped_.push_back(tid);  // already stopped, its stop waiting for the tracer
      continue;
    }
    if (::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) == 0) asked.push_back(tid);
  }
  // A thread stops within microseconds of the interrupt, except one that cannot leave the
  // kernel: a vfork parent waits (TASK_KILLABLE) until its child execs or exits, and is not
  // running user code meanwhile. Give up on such threads after a while; their interrupt stop
  // reaches the tracer later, which resumes it as usual.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  for (pid_t tid : asked) {
    std::optional<int> status;
    try {
      while (!(status = tracee.poll_stop(tid)) && std::chrono::steady_clock::now() < deadline)
        ::sched_yield();
    } catch (const ThreadGone&) {
      continue;  // exited: its exit is deferred for the tracer
    }
    if (!status) continue;
    stopped_.push_back(tid);
    if (ptrace_event(*status) == PTRACE_EVENT_STOP && !is_group_stop_signal(WSTOPSIG(*status)))
      interrupted_.push_back(tid);  // our interrupt (or a new thread's first stop): ours to resume
    else
      tracee.defer({tid, *status});  // a stop the tracer must see; the thread stays stopped
  }
}

OthersStop::~OthersStop() {
  try {
    resume_all();
  } catch (...) {
  }
}

void OthersStop::resume_all() {
  for (pid_t tid : interrupted_)
    tracee_.resume(tid, hooks_.resume_request ? hooks_.resume_request(tid) : PTRACE_CONT, 0);
  interrupted_.clear();
}

}  // namespace hwbp::ptrace
