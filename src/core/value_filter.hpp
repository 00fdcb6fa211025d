// The value filter: which hits of a watch reach the user. x86 has neither a "modify" nor a
// "read" debug register, so both are filters over the hits of a write or read-write slot,
// decided by comparing the watched bytes before and after the access (GDB does the same for
// `watch`: breakpoint.c, watchpoint_check). One rule for every delivery: the library's SIGTRAP
// handler, the CLI's ptrace and BPF deliveries (the BPF program applies the same enum in the
// kernel: src/bpf/watch_hit.bpf.c, value_passes), and the page-protection engine.
//
// An access whose old bytes are unknown passes every filter: a hit is never dropped on a guess,
// it is reported with its old value marked unknown.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "hwbp/types.hpp"

namespace hwbp::core {

// What comparing the bytes before and after one access says.
enum class ValueChange : std::uint8_t { unknown, changed, unchanged };

// The filter of an access kind. The values are the BPF program's (hit_record.h hwbp_bpf_filter).
enum class ValueFilter : std::uint8_t {
  every = 0,      // w, rw: every hit
  changed = 1,    // modify: the bytes changed
  unchanged = 2,  // r (x86: a read-write hit that left the bytes as they were)
  no_value = 3,   // x: execute breakpoints have no bytes
};

constexpr ValueFilter value_filter_for(Access access) noexcept {
  switch (access) {
    case Access::modify: return ValueFilter::changed;
    case Access::read: return ValueFilter::unchanged;
    case Access::exec: return ValueFilter::no_value;
    case Access::write:
    case Access::read_write: break;
  }
  return ValueFilter::every;
}

constexpr bool passes(ValueFilter filter, ValueChange change) noexcept {
  if (change == ValueChange::unknown) return true;
  switch (filter) {
    case ValueFilter::changed: return change == ValueChange::changed;
    case ValueFilter::unchanged: return change == ValueChange::unchanged;
    case ValueFilter::every:
    case ValueFilter::no_value: break;
  }
  return true;
}

// Does a hit with this comparison reach a watch of this access kind? Async-signal-safe.
constexpr bool passes_value_filter(Access access, ValueChange change) noexcept {
  return passes(value_filter_for(access), change);
}

// Integer form (chunks of up to 8 bytes, the library's signal handler).
constexpr ValueChange compare_values(bool old_known, std::uint64_t old_value,
                                     std::uint64_t new_value) noexcept {
  if (!old_known) return ValueChange::unknown;
  return old_value == new_value ? ValueChange::unchanged : ValueChange::changed;
}

// Byte form (any length; nullopt = unknown).
ValueChange compare_values(std::optional<std::span<const std::uint8_t>> old_bytes,
                           std::optional<std::span<const std::uint8_t>> new_bytes) noexcept;

}  // namespace hwbp::core
