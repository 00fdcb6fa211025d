#include "ptrace/scratch_buffers.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>

namespace hwbp::ptrace {

std::optional<std::uint64_t> ScratchBuffers::acquire(std::uint64_t size) {
  Buffer* best = nullptr;
  for (Buffer& b : buffers_)
    if (!b.in_use && b.size >= size && (!best || b.size < best->size)) best = &b;
  if (!best) return std::nullopt;
  best->in_use = true;
  return best->addr;
}

void ScratchBuffers::release(std::uint64_t addr) {
  for (Buffer& b : buffers_)
    if (b.addr == addr) b.in_use = false;
}

bool ScratchBuffers::grow(InjectionSession& session, std::uint64_t size) {
  constexpr std::uint64_t kGranule = 64 * 1024;
  size = (size + kGranule - 1) / kGranule * kGranule;
  long r =
      session(SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r < 0 && r > -4096) return false;
  buffers_.push_back({static_cast<std::uint64_t>(r), size, false});
  return true;
}

void ScratchBuffers::destroy(InjectionSession& session) {
  unmap_in(session);
  buffers_.clear();
}

void ScratchBuffers::unmap_in(InjectionSession& session) const {
  for (const Buffer& b : buffers_) session(SYS_munmap, b.addr, b.size);
}

}  // namespace hwbp::ptrace
