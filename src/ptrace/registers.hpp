// A stopped thread's registers: the general registers (PTRACE_GETREGS) and the extended state
// (PTRACE_GETREGSET NT_X86_XSTATE) that holds the vector registers SSE/AVX/AVX-512 stores take
// their data from.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <span>
#include <vector>

namespace hwbp::ptrace {

using GeneralRegisters = user_regs_struct;

GeneralRegisters get_registers(pid_t tid);
void set_registers(pid_t tid, const GeneralRegisters& regs);

// The XSAVE area of a thread in the kernel's user ABI format: the *standard* (non-compacted)
// layout whatever the CPU uses internally (arch/x86/kernel/fpu/xstate.c:
// copy_xstate_to_uabi_buf), so component offsets are CPUID leaf 0xD's, the same in every
// process on this machine. Components absent from the header's XSTATE_BV are in their init
// state; the kernel fills them in with init values (zeros for the vector components).
// Reading it costs one syscall (~2.7 KB with AVX-512): done only for vector stores.
class ExtendedState {
 public:
  static ExtendedState read(pid_t tid);
  // The buffer as the kernel returned it (decode::VectorState reads the registers from it).
  std::span<const std::uint8_t> raw() const { return buf_; }

 private:
  std::vector<std::uint8_t> buf_;
};

}  // namespace hwbp::ptrace
