#include "core/split.hpp"

namespace hwbp::core {

namespace {

// Largest naturally aligned power of two that starts at `addr` and stays inside `remaining`
// (GDB's size_try_array): x86 ignores the low DRn bits, so anything else watches wrong bytes.
std::size_t x86_chunk_len(std::uintptr_t addr, std::size_t remaining, unsigned max_len) {
  std::size_t len = max_len;
  while (len > 1 && (len > remaining || addr % len != 0)) len /= 2;
  return len;
}

// BAS covers any contiguous bytes inside one aligned doubleword, so take the rest of the granule.
std::size_t byte_select_chunk_len(std::uintptr_t addr, std::size_t remaining, unsigned granule) {
  const std::size_t to_boundary = granule - addr % granule;
  return remaining < to_boundary ? remaining : to_boundary;
}

// Calls emit(addr, len) for each chunk in address order.
template <typename Emit>
void for_each_chunk(const ArchInfo& arch, const WatchRequest& req, Emit&& emit) {
  if (req.access == Access::exec) {
    emit(req.addr, arch.exec_len);
    return;
  }
  std::uintptr_t addr = req.addr;
  std::size_t remaining = req.len;
  while (remaining > 0) {
    const std::size_t len = arch.byte_select ? byte_select_chunk_len(addr, remaining, arch.max_len)
                                             : x86_chunk_len(addr, remaining, arch.max_len);
    emit(addr, len);
    addr += len;
    remaining -= len;
  }
}

}  // namespace

std::vector<Chunk> split_range(const ArchInfo& arch, const WatchRequest& req) {
  std::vector<Chunk> chunks(chunk_count(arch, req));
  split_range(arch, req, chunks);
  return chunks;
}

std::size_t split_range(const ArchInfo& arch, const WatchRequest& req, std::span<Chunk> out) noexcept {
  const std::size_t n = chunk_count(arch, req);
  if (n > out.size()) return n;
  const HwType type = hw_type_for(arch, req.access);
  std::size_t i = 0;
  for_each_chunk(arch, req, [&](std::uintptr_t addr, std::size_t len) {
    out[i++] = Chunk{addr, static_cast<std::uint8_t>(len), type};
  });
  return n;
}

std::size_t chunk_count(const ArchInfo& arch, const WatchRequest& req) noexcept {
  std::size_t n = 0;
  for_each_chunk(arch, req, [&](std::uintptr_t, std::size_t) { ++n; });
  return n;
}

}  // namespace hwbp::core
