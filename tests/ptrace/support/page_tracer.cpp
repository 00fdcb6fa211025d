#include "support/page_tracer.hpp"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "ptrace/registers.hpp"

namespace hwbp::ptrace::test {
namespace {

bool is_group_stop_signal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

}  // namespace

PageTracer::PageTracer(TracedChild& child)
    : child_(child),
      transport_(child.pid(), PageCallbacks{[this](const PageHit& h) {
                                              ++hit_count_;
                                              if (on_hit) on_hit(h);
                                              if (keep_hits) hits_.push_back(h);
                                            },
                                            [this](const PageEnd& e) { ends_.push_back(e); }}) {}

int PageTracer::run() {
  const pid_t pid = child_.pid();
  known_ = {pid};
  if (on_start) on_start(pid);
  resume(pid, 0);  // from the exec stop
  for (;;) {
    WaitedStop st;
    if (auto d = transport_.take_deferred()) {
      st = *d;
    } else {
      auto w = child_.wait(-1);
      if (!w) throw std::runtime_error("no traced task left to wait for");
      st = {w->first, w->second};
    }
    if (WIFEXITED(st.status) || WIFSIGNALED(st.status)) {
      known_.erase(st.tid);
      if (st.tid == pid) {
        child_.note_exit(st.status);
        return st.status;
      }
      continue;
    }
    if (!known_.count(st.tid)) {
      early_[st.tid] = st.status;  // before its creator's clone/fork event
      continue;
    }
    handle(st.tid, st.status);
    if (detached_) return -1;
  }
}

void PageTracer::resume(pid_t tid, int sig) {
  if (!detached_ && detach_now && detach_now()) {
    detach_all(tid, sig);
    return;
  }
  transport_.resume(tid, sig);
}

void PageTracer::handle(pid_t tid, int status) {
  const int event = ptrace_event(status);
  switch (event) {
    case PTRACE_EVENT_CLONE:
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK: {
      unsigned long msg = 0;
      ::ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &msg);
      const pid_t child = static_cast<pid_t>(msg);
      std::optional<int> first;
      if (auto it = early_.find(child); it != early_.end()) {
        first = it->second;
        early_.erase(it);
      }
      if (transport_.on_new_task(tid, child, event, first) == NewTask::traced) {
        known_.insert(child);
        if (first) handle(child, *first);
      } else {
        ++forks_detached_;
      }
      resume(tid, 0);
      return;
    }
    case PTRACE_EVENT_EXEC:
      if (transport_.on_exec(tid) == ExecOutcome::detach_child) {
        ::ptrace(PTRACE_DETACH, tid, nullptr, 0);
        known_.erase(tid);
        return;
      }
      known_ = {tid};
      resume(tid, 0);
      return;
    case PTRACE_EVENT_EXIT:
      transport_.on_thread_exit(tid);
      resume(tid, 0);
      return;
    case PTRACE_EVENT_STOP:
      if (is_group_stop_signal(WSTOPSIG(status)))
        ::ptrace(PTRACE_LISTEN, tid, nullptr, nullptr);
      else
        resume(tid, 0);
      return;
    case 0: break;
    default: resume(tid, 0); return;
  }
  if (is_syscall_stop(status)) {
    if (std::getenv("HWBP_DEBUG")) {
      __ptrace_syscall_info si{};
      ::ptrace(PTRACE_GET_SYSCALL_INFO, tid, reinterpret_cast<void*>(sizeof si), &si);
      if (si.op == 1)
        std::fprintf(stderr, "%d enter %llu(%llx, %llx, %llx)\n", tid, (unsigned long long)si.entry.nr,
                     (unsigned long long)si.entry.args[0], (unsigned long long)si.entry.args[1],
                     (unsigned long long)si.entry.args[2]);
      else
        std::fprintf(stderr, "%d exit %lld\n", tid, (long long)si.exit.rval);
    }
    transport_.on_syscall_stop(tid);
    resume(tid, 0);
    return;
  }
  siginfo_t info{};
  ::ptrace(PTRACE_GETSIGINFO, tid, nullptr, &info);
  if (info.si_signo == SIGTRAP && info.si_code == SI_TKILL && on_arm_point) {
    on_arm_point(tid);
    resume(tid, 0);
    return;
  }
  if (transport_.on_signal_stop(tid, info)) {
    if (after_handled_signal) after_handled_signal(tid);
    resume(tid, 0);
    return;
  }
  if (std::getenv("HWBP_DEBUG")) {
    std::fprintf(stderr, "pass signal %d to %d (pid %d): code %d addr %p rip %llx\n", WSTOPSIG(status), tid,
                 child_.pid(), info.si_code, info.si_addr, get_registers(tid).rip);
    if (WSTOPSIG(status) == SIGSEGV) std::system(("cat /proc/" + std::to_string(tid) + "/maps >&2").c_str());
  }
  resume(tid, WSTOPSIG(status));
}

void PageTracer::detach_all(pid_t stopped, int sig) {
  transport_.release(stopped);
  detached_ = true;
  // Every other thread: interrupt, collect its stop (or a deferred one), detach.
  std::set<pid_t> left = known_;
  left.erase(stopped);
  ::ptrace(PTRACE_DETACH, stopped, nullptr, sig);
  std::map<pid_t, int> pending;
  while (auto d = transport_.take_deferred()) pending[d->tid] = d->status;
  for (pid_t t : left)
    if (!pending.count(t)) ::ptrace(PTRACE_INTERRUPT, t, nullptr, nullptr);
  for (pid_t t : left) {
    int status = 0;
    if (auto it = pending.find(t); it != pending.end()) {
      status = it->second;
    } else {
      auto w = child_.wait(t);
      if (!w) continue;
      status = w->second;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) continue;
    int sig = is_signal_delivery_stop(status) ? WSTOPSIG(status) : 0;
    ::ptrace(PTRACE_DETACH, t, nullptr, sig);
  }
}

}  // namespace hwbp::ptrace::test
