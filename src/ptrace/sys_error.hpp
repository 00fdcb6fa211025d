// Kernel errno from a ptrace, /proc or injected-syscall operation -> hwbp::Error with a message
// that says what failed, on which thread, and what to do.
#pragma once

#include <sys/types.h>

#include <string>

#include "hwbp/error.hpp"

namespace hwbp::ptrace {

// `what` names the operation, e.g. "PTRACE_GETREGS on thread 1234". ESRCH -> no_such_thread,
// EPERM/EACCES -> permission, ENOSYS/EOPNOTSUPP -> unsupported, others -> system.
Error sys_error(const std::string& what, int err);

// The thread (or process) is gone: exited or killed while we worked on it. Carries the wait
// status we collected for it (if any), which the tracer must still process.
class ThreadGone : public Error {
 public:
  ThreadGone(pid_t tid, int wait_status, bool have_status);
  pid_t tid() const noexcept { return tid_; }
  bool have_status() const noexcept { return have_status_; }
  int wait_status() const noexcept { return status_; }

 private:
  pid_t tid_;
  int status_;
  bool have_status_;
};

}  // namespace hwbp::ptrace
