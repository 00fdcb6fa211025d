#include "ptrace/scratch_area.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "hwbp/error.hpp"

namespace hwbp::ptrace {

ScratchArea ScratchArea::create(InjectionSession& session, Tracee& tracee) {
  ScratchArea a;
  long r = session(SYS_mmap, 0, a.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r < 0 && r > -4096)
    throw Error(Errc::system,
                "cannot map hwbp's scratch area in process " + std::to_string(tracee.pid()) + ": " +
                    std::strerror(static_cast<int>(-r)),
                static_cast<int>(-r));
  a.base_ = static_cast<std::uint64_t>(r);
  const std::uint8_t gateway[2] = {0x0f, 0x05};
  tracee.memory().write(a.gateway(), gateway);
  r = session(SYS_mprotect, a.base_, kPage, PROT_READ | PROT_EXEC);
  if (r != 0) {
    session(SYS_munmap, a.base_, a.size());
    throw Error(Errc::system,
                "cannot make hwbp's scratch code executable in process " + std::to_string(tracee.pid()) +
                    ": " + std::strerror(static_cast<int>(-r)),
                static_cast<int>(-r));
  }
  return a;
}

void ScratchArea::destroy(InjectionSession& session) {
  if (!base_) return;
  std::uint64_t base = base_;
  base_ = 0;
  session(SYS_munmap, base, size());
}

}  // namespace hwbp::ptrace
