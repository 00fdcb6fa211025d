#include "ptrace/registers.hpp"

#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include <cerrno>
#include <string>

#include "ptrace/sys_error.hpp"

namespace hwbp::ptrace {
GeneralRegisters get_registers(pid_t tid) {
  GeneralRegisters regs{};
  if (::ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0)
    throw sys_error("PTRACE_GETREGS on thread " + std::to_string(tid), errno);
  return regs;
}

void set_registers(pid_t tid, const GeneralRegisters& regs) {
  if (::ptrace(PTRACE_SETREGS, tid, nullptr, &regs) != 0)
    throw sys_error("PTRACE_SETREGS on thread " + std::to_string(tid), errno);
}

ExtendedState ExtendedState::read(pid_t tid) {
  ExtendedState s;
  // Larger than any XSAVE area without AMX tiles (~2.7 KB with AVX-512); the kernel writes
  // min(its size, ours) and reports the length it wrote.
  s.buf_.resize(16384);
  iovec iov{s.buf_.data(), s.buf_.size()};
  if (::ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) != 0)
    throw sys_error("PTRACE_GETREGSET(NT_X86_XSTATE) on thread " + std::to_string(tid), errno);
  s.buf_.resize(iov.iov_len);
  return s;
}

}  // namespace hwbp::ptrace
