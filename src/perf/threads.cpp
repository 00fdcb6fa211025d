// /proc/<pid>/task enumeration: the threads of a process, as perf lists them for `perf record
// -p PID` (tools/perf/util/thread_map.c, thread_map__new_by_pid).
#include "perf/threads.hpp"

#include <dirent.h>
#include <signal.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>

#include "hwbp/error.hpp"

namespace hwbp::perf {
namespace {

// Entries are TIDs; "." and ".." (and anything else non-numeric) are skipped.
bool parse_tid(const char* name, pid_t& out) {
  if (*name < '0' || *name > '9') return false;
  char* end = nullptr;
  const long v = std::strtol(name, &end, 10);
  if (*end != '\0' || v <= 0) return false;
  out = static_cast<pid_t>(v);
  return true;
}

}  // namespace

std::vector<pid_t> list_threads(pid_t pid) {
  const std::string path =
      pid == 0 ? std::string("/proc/self/task") : "/proc/" + std::to_string(pid) + "/task";
  std::vector<pid_t> tids;
  DIR* dir = ::opendir(path.c_str());
  if (!dir) return tids;  // the process is gone (or not visible to us)
  while (const dirent* ent = ::readdir(dir)) {
    pid_t tid = 0;
    if (parse_tid(ent->d_name, tid)) tids.push_back(tid);
  }
  ::closedir(dir);
  std::sort(tids.begin(), tids.end());
  return tids;
}

// gettid() has a glibc wrapper only since 2.30; the raw syscall works everywhere.
namespace {
// gettid costs ~0.4 us in these VMs; a thread's id never changes, except for the thread that
// calls fork(), whose copy in the child is a new task: reset there.
__attribute__((tls_model("initial-exec"))) thread_local pid_t tl_tid = 0;
void reset_after_fork() noexcept { tl_tid = 0; }
}  // namespace

void require_own_thread(pid_t tid) {
  // tgkill(tgid, tid, 0) checks that tid belongs to thread group tgid (kernel/signal.c,
  // do_tkill: task_tgid_vnr(p) == tgid, else ESRCH) and sends nothing.
  if (tid > 0 && ::syscall(SYS_tgkill, ::getpid(), tid, 0) == 0) return;
  const bool exists = tid > 0 && (::kill(tid, 0) == 0 || errno == EPERM);
  if (!exists) return;
  throw Error(Errc::invalid_request,
              "thread " + std::to_string(tid) + " is not a thread of this process (" +
                  std::to_string(::getpid()) + "): the library watches its own threads only (a "
                  "hit would kill that process with SIGTRAP); use the hwbp command to watch "
                  "another process",
              ESRCH);
}

pid_t current_tid() noexcept {
  static const bool registered = (pthread_atfork(nullptr, nullptr, reset_after_fork), true);
  (void)registered;
  if (tl_tid == 0) tl_tid = static_cast<pid_t>(::syscall(SYS_gettid));
  return tl_tid;
}

}  // namespace hwbp::perf
