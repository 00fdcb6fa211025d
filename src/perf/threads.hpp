// Thread enumeration for coverage of a whole process.
#pragma once

#include <sys/types.h>

#include <vector>

namespace hwbp::perf {

// Thread ids in /proc/<pid>/task (pid 0 = this process), sorted. Empty if the process is gone.
std::vector<pid_t> list_threads(pid_t pid = 0);
pid_t current_tid() noexcept;

}  // namespace hwbp::perf
