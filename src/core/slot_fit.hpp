// A watch's chunks as slot keys and their plan in a slot table, in one step and without
// allocating: for callers whose watches must fit a few slots and who plan on a hot path
// (hwbp::kvm arms a guest's watch set through its four debug registers on every change; its
// automatic engine choice and its arming share one fit, so a watch is split and planned once).
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "core/fixed_vector.hpp"
#include "core/slot_table.hpp"
#include "core/split.hpp"

namespace hwbp::core {

// Chunks one fit holds at most: the most slots a thread has in a pool (AArch64 allows 16).
inline constexpr std::size_t kMaxFitChunks = 16;

struct SlotFit {
  std::size_t needed = 0;                    // chunks of the watch (slots without sharing)
  FixedVector<SlotKey, kMaxFitChunks> keys;  // one per chunk, in address order; empty when
                                             // needed > the caller's limit
  InlineOptional<SlotTable::Plan> plan;      // empty: too many chunks, or no room in the table
  std::span<const SlotKey> key_span() const noexcept { return {keys.data(), keys.size()}; }
};

// Splits `req` (validated) into chunks; when there are at most `max_chunks` (<= kMaxFitChunks),
// makes each a key like `key` with that chunk and plans them in `table`.
SlotFit fit_slots(const ArchInfo& arch, const WatchRequest& req, const SlotTable& table,
                  std::size_t max_chunks, const SlotKey& key = SlotKey{});

}  // namespace hwbp::core
