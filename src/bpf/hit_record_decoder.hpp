// A hit record as it comes out of the ring buffer: a struct hwbp_bpf_hit followed by stack bytes
// (hit_record.h). The bytes come from the kernel side, written by a BPF program, so nothing in
// them is trusted: the size is checked, the record is copied out (the ring gives no alignment
// guarantee to a reader that was not built with the writer), and the stack is clamped to the
// bytes really present. Pure: no syscalls (fuzzed, fuzz/hit_record_fuzzer.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "bpf/hit_record.h"

namespace hwbp::bpf {

struct DecodedHit {
  hwbp_bpf_hit hit;
  std::span<const std::uint8_t> stack;  // within the record's bytes; at most hit.stack_size
};

// nullopt for a record shorter than struct hwbp_bpf_hit (a different writer).
std::optional<DecodedHit> decode_hit_record(std::span<const std::uint8_t> record) noexcept;

}  // namespace hwbp::bpf
