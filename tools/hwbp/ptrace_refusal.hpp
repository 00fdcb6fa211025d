// Why PTRACE_SEIZE said EPERM. The kernel gives that one errno for very different reasons
// (kernel/ptrace.c, ptrace_attach): a kernel thread (PF_KTHREAD), the caller's own thread
// group, a task that has already exited (exit_state: a zombie), a task already traced, and the
// access checks (__ptrace_may_access: other user without CAP_SYS_PTRACE, Yama's ptrace_scope,
// security modules). The message names the one that applies, so a caller that has
// CAP_SYS_PTRACE is never told it lacks it.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "hwbp/error.hpp"

namespace hwbp::cli {

// The fields of /proc/PID/stat that explain a refusal (proc(5)).
struct ProcStat {
  bool valid = false;
  char state = '?';         // R, S, D, Z (zombie), X (dead), t (traced), ...
  pid_t ppid = 0;
  unsigned long flags = 0;  // PF_* (include/linux/sched.h)
};
inline constexpr unsigned long kPfKthread = 0x00200000;  // PF_KTHREAD, include/linux/sched.h

// Parses the text of /proc/PID/stat. The command name (field 2) may hold spaces and ')': the
// fields after it start after the last ')'.
ProcStat parse_proc_stat(std::string_view text);
ProcStat read_proc_stat(pid_t pid, pid_t tid = 0);

// True when thread `tid` of `pid` is gone or exiting (a zombie): an EPERM or ESRCH from seizing
// it only means it exited meanwhile.
bool thread_has_exited(pid_t pid, pid_t tid);
// Is thread `tid` traced by this process (its TracerPid)?
bool traced_by_us(pid_t tid);

// The error for EPERM (or another errno) from seizing process `pid`.
Error ptrace_refusal(pid_t pid, int err);

}  // namespace hwbp::cli
