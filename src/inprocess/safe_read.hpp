// Reading watched bytes from normal (non-handler) context without ever crashing on an address
// that is not mapped or not readable — and without paying a syscall on every enable or
// re-target where that can be avoided (a syscall costs as much as a third of the modify ioctl
// itself in these VMs).
#pragma once

#include <cstdint>

namespace hwbp::inprocess {

// Reads a naturally aligned 1/2/4/8-byte chunk. Returns false when the bytes cannot be read.
// Not thread-safe (called under the registry mutex); not async-signal-safe.
bool read_user_chunk(std::uintptr_t addr, unsigned len, std::uint64_t& out) noexcept;

}  // namespace hwbp::inprocess
