// Exact splitting of a watch range into chunks that hardware slots can hold (LLDB's
// WatchpointAlgorithms idea: a small pure function). A chunk never covers a byte outside
// the request, so every hit is a real access to the watched bytes.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/arch.hpp"
#include "core/request.hpp"

namespace hwbp::core {

struct Chunk {
  std::uintptr_t addr = 0;
  std::uint8_t len = 0;  // for exec: arch.exec_len (what perf wants), covers the one instruction
  HwType type = HwType::write;
  friend bool operator==(const Chunk&, const Chunk&) = default;
};

// Precondition: validate_range(arch, req) returned no violation.
// x86-64: greedy naturally aligned chunks (8, 4, 2, 1) in address order — the minimal count.
// aarch64: one chunk per touched 8-byte granule, covering exactly the requested bytes.
// exec: one chunk {addr, arch.exec_len, exec}.
std::vector<Chunk> split_range(const ArchInfo& arch, const WatchRequest& req);

// The same chunks written into `out` when they fit (chunk_count(arch, req) <= out.size());
// nothing is written when they do not. Returns chunk_count(arch, req) either way. Allocates
// nothing: for callers that can only use a few slots and plan on a hot path (hwbp::kvm).
std::size_t split_range(const ArchInfo& arch, const WatchRequest& req, std::span<Chunk> out) noexcept;

// Number of slots split_range() would produce, without allocating.
std::size_t chunk_count(const ArchInfo& arch, const WatchRequest& req) noexcept;

}  // namespace hwbp::core
