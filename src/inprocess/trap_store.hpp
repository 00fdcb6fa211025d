// What the store that raised a data-breakpoint SIGTRAP wrote, from the instruction and the
// registers in the signal frame (issue 17): the bytes read in the handler are the latest
// store's, which on another CPU another thread may have made since this one. Async-signal-safe:
// no allocation, no lock; a code read that could fault goes through the kernel.
#pragma once

#include <cstdint>

#include "core/split.hpp"

namespace hwbp::inprocess {

struct TrapStore {
  bool new_known = false;  // new_value: the chunk's bytes after this store
  bool old_known = false;  // old_value: before it (xchg, xadd, cmpxchg)
  std::uint64_t new_value = 0, old_value = 0;
  // A read-modify-write (add, inc, or...): new = apply(old); new_known stays false.
  bool rmw = false;
  std::uint64_t apply(std::uint64_t old) const noexcept;

  std::uint8_t op = 0;  // decode::Rmw
  std::uint8_t size = 0;
  std::uint64_t operand = 0;
};

// The store of the instruction that ends at the trap ip of `ucontext` (the instruction after
// the access), for the chunk that fired. Nothing known when the instruction is not found
// unambiguously (it is found by decoding the up to 15 bytes before the ip, and must be the
// only decoding that ends there and writes the chunk; remembered per ip) or when its write does
// not cover the chunk.
TrapStore trap_store(const core::Chunk& chunk, const void* ucontext) noexcept;

}  // namespace hwbp::inprocess
