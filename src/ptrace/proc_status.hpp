// One field of /proc/PID/status (proc(5)), the kernel's per-task summary: TracerPid, Tgid,
// Seccomp, SigCgt, CapEff, ...
#pragma once

#include <sys/types.h>

#include <string>

namespace hwbp::ptrace {

// The value of `field` (leading blanks removed), or "" when the task or the field is not there.
std::string status_field(pid_t pid, const std::string& field);

}  // namespace hwbp::ptrace
