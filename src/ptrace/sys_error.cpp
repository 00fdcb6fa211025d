#include "ptrace/sys_error.hpp"

#include <cerrno>
#include <cstring>

namespace hwbp::ptrace {

Error sys_error(const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  switch (err) {
    case ESRCH: return Error(Errc::no_such_thread, msg + " (the thread exited or is not stopped)", err);
    case EPERM:
    case EACCES:
      return Error(Errc::permission, msg + " (trace the process first, as its owner or root)", err);
    case ENOSYS:
    case EOPNOTSUPP: return Error(Errc::unsupported, msg + " (this kernel lacks the feature)", err);
    default: return Error(Errc::system, msg, err);
  }
}

ThreadGone::ThreadGone(pid_t tid, int wait_status, bool have_status)
    : Error(Errc::no_such_thread, "thread " + std::to_string(tid) + " exited while hwbp worked on it", ESRCH),
      tid_(tid),
      status_(wait_status),
      have_status_(have_status) {}

}  // namespace hwbp::ptrace
