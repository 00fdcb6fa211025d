// Reads another process's (or our own) memory without stopping it: process_vm_readv, falling
// back to /proc/PID/mem (which also reads pages mapped without read permission, e.g. execute-only
// code, and works where process_vm_readv is filtered by seccomp).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace hwbp::symbols {

class ProcessMemory {
 public:
  explicit ProcessMemory(pid_t pid);  // 0 = the calling process
  pid_t pid() const noexcept { return pid_; }
  // Reads [addr, addr+len). Throws SymbolError(unreadable) if any byte cannot be read.
  std::vector<std::uint8_t> read(std::uint64_t addr, std::size_t len) const;

 private:
  bool read_vm(std::uint64_t addr, std::uint8_t* out, std::size_t len) const;
  bool read_proc_mem(std::uint64_t addr, std::uint8_t* out, std::size_t len) const;
  pid_t pid_;
};

}  // namespace hwbp::symbols
