// Thread enumeration for coverage of a whole process.
#pragma once

#include <sys/types.h>

#include <vector>

namespace hwbp::perf {

// Thread ids in /proc/<pid>/task (pid 0 = this process), sorted. Empty if the process is gone.
std::vector<pid_t> list_threads(pid_t pid = 0);
pid_t current_tid() noexcept;

// Refuses (hwbp::Error invalid_request) a tid that is a thread of another process: the library's
// events deliver SIGTRAP to the thread that hits, and a process without hwbp's handler dies of
// it. A tid that does not exist at all is left to perf_event_open (ESRCH: "does not exist").
void require_own_thread(pid_t tid);

}  // namespace hwbp::perf
