// CPU topology as the breakpoint layer sees it.
#pragma once

#include <vector>

namespace hwbp::perf {

// Number of *possible* CPUs (/sys/devices/system/cpu/possible, "0-N"): the kernel admits a task
// breakpoint with cpu == -1 only if every possible CPU has room.
unsigned possible_cpus() noexcept;
// Online CPU numbers (/sys/devices/system/cpu/online); events can be opened only on these.
std::vector<int> online_cpus();

}  // namespace hwbp::perf
