#include "ptrace_refusal.hpp"

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "perf/threads.hpp"
#include "ptrace/proc_status.hpp"

namespace hwbp::cli {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool has_cap_sys_ptrace() {
  constexpr int kCapSysPtrace = 19;  // include/uapi/linux/capability.h
  std::string eff = ptrace::status_field(getpid(), "CapEff");
  return !eff.empty() && (std::strtoull(eff.c_str(), nullptr, 16) >> kCapSysPtrace) & 1u;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

ProcStat parse_proc_stat(std::string_view text) {
  ProcStat st;
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return st;
  std::istringstream rest{std::string(text.substr(close + 1))};
  std::string state, skip;
  long ppid = 0;
  unsigned long flags = 0;
  // state ppid pgrp session tty_nr tpgid flags
  if (!(rest >> state >> ppid >> skip >> skip >> skip >> skip >> flags) || state.size() != 1) return st;
  st.valid = true;
  st.state = state[0];
  st.ppid = static_cast<pid_t>(ppid);
  st.flags = flags;
  return st;
}

ProcStat read_proc_stat(pid_t pid, pid_t tid) {
  std::string path = "/proc/" + std::to_string(pid) +
                     (tid ? "/task/" + std::to_string(tid) : std::string()) + "/stat";
  return parse_proc_stat(read_text(path));
}

bool thread_has_exited(pid_t pid, pid_t tid) {
  ProcStat st = read_proc_stat(pid, tid);
  return !st.valid || st.state == 'Z' || st.state == 'X';
}

bool traced_by_us(pid_t tid) {
  // /proc/TID/status answers for any thread id (hidden from the /proc listing, not from lookup).
  return ptrace::status_field(tid, "TracerPid") == std::to_string(getpid());
}

Error ptrace_refusal(pid_t pid, int err) {
  const std::string who = "process " + std::to_string(pid);
  std::string msg = "cannot trace " + who + ": " + std::strerror(err);
  const ProcStat st = read_proc_stat(pid);
  if (st.valid && (st.flags & kPfKthread))
    return Error(Errc::permission, who + " is a kernel thread: it runs no user code to watch; "
                 "pass the id of a user process", err);
  if (st.valid && (st.state == 'Z' || st.state == 'X') && perf::list_threads(pid).size() > 1)
    return Error(Errc::unsupported, "the main thread of " + who + " has exited while its other "
                 "threads run; ptrace cannot attach to its thread group (watch it with 'hwbp run' "
                 "from the start)", err);
  if (st.valid && (st.state == 'Z' || st.state == 'X'))
    return Error(Errc::no_such_thread, who + " has exited (a zombie until its parent, process " +
                 std::to_string(st.ppid) + ", reaps it): there is nothing left to watch", err);
  if (pid == getpid() || read_proc_stat(getpid(), pid).valid)
    return Error(Errc::invalid_request, who + " is this hwbp itself; pass the id of the program "
                 "to watch", err);
  std::string tracer = ptrace::status_field(pid, "TracerPid");
  if (!tracer.empty() && tracer != "0")
    return Error(Errc::permission, msg + " (it is already traced by process " + tracer +
                                       ", e.g. a debugger; detach it first)", err);
  std::string scope = first_line(read_text("/proc/sys/kernel/yama/ptrace_scope"));
  // Yama's scope 3 refuses every attach, whatever the capabilities (security/yama/yama_lsm.c).
  if (scope == "3")
    return Error(Errc::permission, msg + " (kernel.yama.ptrace_scope = 3 forbids every ptrace "
                 "attach until reboot; use 'hwbp run' to start the program under hwbp)", err);
  if (has_cap_sys_ptrace())
    return Error(Errc::permission, msg + " (hwbp has CAP_SYS_PTRACE: a security module such as "
                 "AppArmor or SELinux refused; see the kernel log)", err);
  if (!scope.empty() && scope != "0")
    msg += " (kernel.yama.ptrace_scope = " + scope +
           ": run as root, or 'sysctl kernel.yama.ptrace_scope=0', or use 'hwbp run')";
  else
    msg += " (the process belongs to another user, or hwbp lacks CAP_SYS_PTRACE)";
  return Error(Errc::permission, msg, err);
}

}  // namespace hwbp::cli
