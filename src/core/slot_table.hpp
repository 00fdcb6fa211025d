// The library's intent mirror (GDB's nat/x86-dregs.c idea): one entry per distinct hardware
// chunk, with a reference count, so identical chunks requested by different watches share one
// debug-register slot. Changes are planned first and committed only when the whole plan fits
// (transactional insert); nothing here makes a syscall.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/arch.hpp"
#include "core/fixed_vector.hpp"
#include "core/inline_optional.hpp"
#include "core/split.hpp"

namespace hwbp::core {

// Who a slot's events cover. kProcess = every thread of the process (existing and future);
// any other value is one thread id.
inline constexpr std::uint64_t kProcessTarget = 0;

// Identity of a shareable slot: same chunk, same coverage, same delivery kind.
struct SlotKey {
  Chunk chunk;
  std::uint64_t target = kProcessTarget;
  bool sigtrap = true;  // false: counted in the kernel only (no signal)
  // 0: a pinned slot, shared by identical requests. n > 0: rotation slot n of the flexible-watch
  // rotator, never shared (its chunk changes as watches take turns).
  std::uint32_t rotation = 0;
  // A CPU-wide slot (a CPU-bound event on every CPU). Its target is kProcessTarget because it
  // takes a slot from every thread, like a process-wide slot; the flag keeps the two apart.
  bool cpu_wide = false;
  friend bool operator==(const SlotKey&, const SlotKey&) = default;
};

// Most entries a table holds: one ActiveIndicator bit each.
inline constexpr std::size_t kMaxTableEntries = 64;
// Entry indexes, inline: planning, committing and releasing allocate nothing (hwbp::kvm re-plans
// on every change of a guest's watch set; the library arms watches from callbacks).
using SlotList = FixedVector<int, kMaxTableEntries>;

class SlotTable {
 public:
  // capacity: how many distinct entries the table holds (<= 64, one ActiveIndicator bit each).
  // slots_per_thread[pool]: hardware slots a thread has in each pool (arch.pool_count() pools).
  SlotTable(const ArchInfo& arch, std::size_t capacity, std::vector<unsigned> slots_per_thread);

  struct Plan {
    SlotList slot_of_key;  // entry index each requested key maps to
    SlotList created;      // entries that the plan creates (not yet shared by anyone)
  };

  enum class PlanError : std::uint8_t { none, table_full, thread_slots };
  struct PlanResult {
    InlineOptional<Plan> plan;  // not std::optional: see inline_optional.hpp
    PlanError error = PlanError::none;
    unsigned pool = 0;           // with thread_slots: the pool that overflowed
    unsigned needed = 0;         // with thread_slots: slots the busiest covered thread would need
    unsigned available = 0;      // with thread_slots: slots per thread in that pool
  };

  // Dry run: map each key to an existing identical entry (shared) or a new one. Fails when the
  // table is full or when some thread would need more slots of a pool than it has: a thread's
  // load is the entries targeting the process plus those targeting that thread. More keys than
  // kMaxTableEntries are refused as table_full (split chunks of a watch are distinct, so they
  // could not fit anyway).
  PlanResult plan(std::span<const SlotKey> keys) const;
  // Applies a plan returned by plan() on this unchanged table: creates entries, adds references.
  void commit(const Plan& plan, std::span<const SlotKey> keys);
  // Drops one reference per listed entry; returns the entries that became free.
  SlotList release(std::span<const int> slots);
  // Moves an entry to another key in place (re-targeting a watch that owns the slot alone).
  // Precondition: refcount(slot) == 1 and no other entry has `key`.
  void rekey(int slot, const SlotKey& key) { entries_.at(static_cast<std::size_t>(slot)).key = key; }
  // The in-use entry with this key, or -1.
  int find(const SlotKey& key) const noexcept {
    for (std::size_t i = 0; i < entries_.size(); ++i)
      if (entries_[i].refs > 0 && entries_[i].key == key) return static_cast<int>(i);
    return -1;
  }

  std::size_t capacity() const noexcept { return entries_.size(); }
  bool in_use(int slot) const noexcept;
  const SlotKey& key(int slot) const;        // precondition: in_use(slot)
  unsigned refcount(int slot) const noexcept;
  std::size_t used() const noexcept;
  // Slots of `pool` a given thread carries (process-wide entries + its own).
  unsigned thread_load(std::uint64_t tid, unsigned pool) const noexcept;
  std::span<const unsigned> slots_per_thread() const noexcept { return slots_per_thread_; }

 private:
  struct Entry {
    SlotKey key;
    unsigned refs = 0;
  };
  // Inline, so a copy of the table (a change planned on the side) allocates nothing and copies
  // only the entries the table has, not the 64 it could have.
  ArchInfo arch_;
  FixedVector<unsigned, 2> slots_per_thread_;  // at most 2 pools (ArchInfo::pool_count)
  FixedVector<Entry, kMaxTableEntries> entries_;
};

}  // namespace hwbp::core
