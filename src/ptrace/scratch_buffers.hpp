// Scratch buffers in the target for redirected system calls (the kernel writes a read(2)'s data
// there instead of into a protected page): mappings made by injected mmap, reused across calls,
// one per system call in flight (several threads may block in reads at once).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ptrace/syscall_injector.hpp"

namespace hwbp::ptrace {

class ScratchBuffers {
 public:
  // A free buffer of at least `size` bytes, marked in use; nullopt when none is mapped yet
  // (map one with grow() from an injection session, then ask again).
  std::optional<std::uint64_t> acquire(std::uint64_t size);
  void release(std::uint64_t addr);
  // Maps a buffer of at least `size` bytes (rounded up to 64 KiB). Returns false on ENOMEM.
  bool grow(InjectionSession& session, std::uint64_t size);
  // Unmaps every buffer (detach, or a forked child's copies) / forgets them (exec).
  void destroy(InjectionSession& session);
  void forget() { buffers_.clear(); }
  // Unmaps them in another process that inherited them (a forked child), keeping ours.
  void unmap_in(InjectionSession& session) const;

 private:
  struct Buffer {
    std::uint64_t addr = 0, size = 0;
    bool in_use = false;
  };
  std::vector<Buffer> buffers_;
};

}  // namespace hwbp::ptrace
