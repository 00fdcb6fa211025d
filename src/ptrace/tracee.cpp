#include "ptrace/tracee.hpp"

#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "ptrace/sys_error.hpp"

namespace hwbp::ptrace {
namespace {

bool is_group_stop_signal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

// A signal the stepped instruction raised itself (si_code > 0: made by the kernel for a fault,
// not sent by a process): the instruction did not complete.
bool is_fault(const siginfo_t& info) {
  switch (info.si_signo) {
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE: return info.si_code > 0;
    default: return false;
  }
}

}  // namespace

Tracee::Tracee(pid_t pid) : pid_(pid), memory_(pid) {}

int Tracee::wait_stop(pid_t tid) {
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(tid, &status, __WALL);
    if (r == tid) break;
    if (r < 0 && errno == EINTR) continue;
    throw ThreadGone(tid, 0, false);  // ECHILD: already reaped
  }
  return checked(tid, status);
}

std::optional<int> Tracee::poll_stop(pid_t tid) {
  int status = 0;
  pid_t r = ::waitpid(tid, &status, __WALL | WNOHANG);
  if (r == 0) return std::nullopt;
  if (r != tid) throw ThreadGone(tid, 0, false);
  return checked(tid, status);
}

int Tracee::checked(pid_t tid, int status) {
  if (WIFEXITED(status) || WIFSIGNALED(status) || ptrace_event(status) == PTRACE_EVENT_EXIT) {
    // Killed (SIGKILL, exit_group of another thread) while the engine worked on it: the tracer
    // must still see this stop or exit.
    defer({tid, status});
    held_.erase(tid);
    throw ThreadGone(tid, status, true);
  }
  return status;
}

Tracee::StepResult Tracee::step(pid_t tid, int deliver) {
  for (;; deliver = 0) {
    if (::ptrace(PTRACE_SINGLESTEP, tid, nullptr, deliver) != 0) {
      if (errno == ESRCH) throw ThreadGone(tid, 0, false);
      throw sys_error("PTRACE_SINGLESTEP on thread " + std::to_string(tid), errno);
    }
    int status = wait_stop(tid);
    int event = ptrace_event(status);
    if (event == PTRACE_EVENT_STOP) {
      // A group-stop this thread takes part in: hold it as its stop signal (see header).
      // Otherwise a PTRACE_INTERRUPT: nothing to keep.
      if (is_group_stop_signal(WSTOPSIG(status))) {
        siginfo_t info{};
        info.si_signo = WSTOPSIG(status);
        info.si_code = SI_USER;
        hold(tid, info);
      }
      continue;
    }
    if (event != 0 || is_syscall_stop(status)) continue;  // not produced by a single step
    siginfo_t info{};
    if (::ptrace(PTRACE_GETSIGINFO, tid, nullptr, &info) != 0)
      throw sys_error("PTRACE_GETSIGINFO on thread " + std::to_string(tid), errno);
    // The step's own trap: TRAP_TRACE from the debug exception (arch/x86/kernel/traps.c:
    // exc_debug_user() -> send_sigtrap(.., get_si_code(dr6))), or TRAP_BRKPT when the stepped
    // instruction was a syscall (kernel/entry/common.c: syscall_exit_work() ->
    // user_single_step_report()).
    // A step that delivered a signal ends at the handler's first instruction in a ptrace_notify
    // stop (kernel/signal.c: signal_delivered() -> ptrace_notify(SIGTRAP)), si_code SIGTRAP.
    if (info.si_signo == SIGTRAP &&
        (info.si_code == TRAP_TRACE || info.si_code == TRAP_BRKPT || info.si_code == SIGTRAP))
      return {false, info};
    if (is_fault(info)) return {true, info};
    hold(tid, info);
  }
}

bool Tracee::resume(pid_t tid, int request, int sig) {
  auto it = held_.find(tid);
  if (it != held_.end() && !it->second.empty()) {
    if (sig == 0) {
      siginfo_t info = it->second.front();
      it->second.erase(it->second.begin());
      if (::ptrace(PTRACE_SETSIGINFO, tid, nullptr, &info) == 0) {
        defer({tid, stop_status_for_signal(info.si_signo)});
        return false;
      }
    } else {
      for (const siginfo_t& info : it->second) ::syscall(SYS_tgkill, pid_, tid, info.si_signo);
      it->second.clear();
    }
  }
  if (::ptrace(static_cast<__ptrace_request>(request), tid, nullptr, sig) != 0 && errno != ESRCH)
    throw sys_error("resuming thread " + std::to_string(tid), errno);
  return true;
}

std::optional<WaitedStop> Tracee::take_deferred() {
  if (deferred_.empty()) return std::nullopt;
  WaitedStop s = deferred_.front();
  deferred_.pop_front();
  return s;
}

bool Tracee::has_deferred(pid_t tid) const {
  for (const WaitedStop& d : deferred_)
    if (d.tid == tid) return true;
  return false;
}

void Tracee::detach(pid_t tid) {
  int sig = 0;
  auto it = held_.find(tid);
  if (it != held_.end() && !it->second.empty()) {
    if (::ptrace(PTRACE_SETSIGINFO, tid, nullptr, &it->second.front()) == 0)
      sig = it->second.front().si_signo;
    for (std::size_t i = 1; i < it->second.size(); ++i)
      ::syscall(SYS_tgkill, tid, tid, it->second[i].si_signo);
    held_.erase(it);
  }
  ::ptrace(PTRACE_DETACH, tid, nullptr, sig);
}

bool Tracee::has_held_signals(pid_t tid) const {
  auto it = held_.find(tid);
  return it != held_.end() && !it->second.empty();
}

bool shares_address_space(pid_t creator, pid_t child, int event) {
  constexpr int kKcmpVm = 1;  // <linux/kcmp.h> KCMP_VM
  const long same = ::syscall(SYS_kcmp, creator, child, kKcmpVm, 0, 0);
  return same >= 0 ? same == 0 : event != PTRACE_EVENT_FORK;
}

void Tracee::forget(pid_t tid) { held_.erase(tid); }

void Tracee::on_exec() {
  held_.clear();
  memory_.reopen();
}

}  // namespace hwbp::ptrace
