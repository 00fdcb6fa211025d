#include "symbols/process_memory.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "symbols/symbol_error.hpp"

namespace hwbp::symbols {

ProcessMemory::ProcessMemory(pid_t pid) : pid_(pid == 0 ? ::getpid() : pid) {}

bool ProcessMemory::read_vm(std::uint64_t addr, std::uint8_t* out, std::size_t len) const {
  std::size_t done = 0;
  while (done < len) {  // a read may stop short at a mapping boundary
    iovec local{out + done, len - done};
    iovec remote{reinterpret_cast<void*>(addr + done), len - done};
    ssize_t n = ::process_vm_readv(pid_, &local, 1, &remote, 1, 0);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool ProcessMemory::read_proc_mem(std::uint64_t addr, std::uint8_t* out, std::size_t len) const {
  std::string path = "/proc/" + std::to_string(pid_) + "/mem";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, out + done, len - done, static_cast<off_t>(addr + done));
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  int saved = errno;
  ::close(fd);
  errno = saved;
  return done == len;
}

namespace {

// Why a read failed, from the errno of process_vm_readv (EFAULT: no such mapping; ESRCH: no such
// process; EPERM: the ptrace access check, kernel/ptrace.c __ptrace_may_access) and of
// /proc/PID/mem (EIO: no such mapping; EACCES/EPERM on open: the same check). Only the last
// one deserves the permission advice: a root tracer that reads an address its tracee no longer
// maps (it called execve, or unmapped it) must not be told about ptrace_scope.
std::string why_unreadable(int err) {
  switch (err) {
    case EFAULT:
    case EIO:
      return "nothing is mapped there now (the process unmapped it, or called execve since)";
    case ESRCH:
    case ENOENT:
      return "the process has exited";
    case EPERM:
    case EACCES:
      return std::string(std::strerror(err)) +
             " (ptrace permission needed: same user and kernel.yama.ptrace_scope, or "
             "CAP_SYS_PTRACE)";
    default: return std::strerror(err);
  }
}

}  // namespace

std::vector<std::uint8_t> ProcessMemory::read(std::uint64_t addr, std::size_t len) const {
  std::vector<std::uint8_t> buf(len);
  if (len == 0 || read_vm(addr, buf.data(), len)) return buf;
  const int vm_err = errno;
  if (read_proc_mem(addr, buf.data(), len)) return buf;
  // /proc/PID/mem's answer, unless it could not even be opened for a reason that
  // process_vm_readv explains better (it gives EFAULT for a hole, the file EIO: the same).
  int err = errno;
  if (err == 0 || ((err == EACCES || err == EPERM) && vm_err != EPERM && vm_err != 0)) err = vm_err;
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(addr));
  throw SymbolError(SymbolErrc::unreadable,
                    "cannot read " + std::to_string(len) + " bytes at " + hex + " in process " +
                        std::to_string(pid_) + ": " + why_unreadable(err),
                    {}, err);
}

}  // namespace hwbp::symbols
