// The page engine's own memory inside the target: one private anonymous mapping, mapped by an
// injected mmap, holding
//   - a code page (r-x): a `syscall` gateway for later injections and the slot where a displaced
//     instruction is single-stepped;
//   - data pages (rw-): the displaced instruction's memory operand (within +-2 GiB of the code,
//     as its rip-relative re-encoding requires).
// The engine writes the code page through /proc/PID/mem (FOLL_FORCE lands in r-x private pages)
// so it is never writable from the program. Buffers for redirected system calls are separate
// mappings (ScratchBuffers), sized on demand.
#pragma once

#include <cstdint>

#include "ptrace/syscall_injector.hpp"

namespace hwbp::ptrace {

class ScratchArea {
 public:
  static constexpr std::uint64_t kPage = 4096;
  static constexpr std::uint64_t kDataPages = 2;  // an operand at offset < 4 KiB, up to 4 KiB long

  // Maps the area through `session` and writes the gateway. Throws hwbp::Error.
  static ScratchArea create(InjectionSession& session, Tracee& tracee);
  ScratchArea() = default;

  bool mapped() const noexcept { return base_ != 0; }
  std::uint64_t base() const noexcept { return base_; }
  std::uint64_t size() const noexcept { return kPage * (1 + kDataPages); }
  std::uint64_t gateway() const noexcept { return base_; }         // 0f 05
  std::uint64_t step_slot() const noexcept { return base_ + 64; }  // displaced code
  std::uint64_t data() const noexcept { return base_ + kPage; }    // operand area
  bool contains(std::uint64_t a) const noexcept { return a >= base_ && a < base_ + size(); }

  // Unmaps it (detach, or in a forked child). The area is forgotten even if that fails.
  void destroy(InjectionSession& session);
  // Forget without unmapping (exec: the address space is gone).
  void forget() noexcept { base_ = 0; }

 private:
  std::uint64_t base_ = 0;
};

}  // namespace hwbp::ptrace
