// Dry-run placement of a set of watches on debug-register slots (`hwbp plan`), CLI-only: which chunks each
// watch becomes (split_range), which chunks are shared (SlotTable: identical chunks share one
// slot), which slot each takes, and whether the kernel would admit the set (SlotAccountant: every
// new chunk is reserved as a task-bound, all-CPU breakpoint of one task, the way hwbp arms a
// process-wide watch on each thread). Pure: no syscalls.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/arch.hpp"
#include "core/request.hpp"
#include "core/split.hpp"

namespace hwbp::cli {

struct PlanWatch {
  std::string label;  // how the user wrote it (shown in output and errors)
  core::WatchRequest req;
  // Longer than a debug-register range (core::validate_range: too_large) and left to the page
  // engine: no chunks, no slots, no "too large" error; it neither fits nor overflows.
  bool software_only = false;
};

struct PlannedChunk {
  std::size_t watch = 0;               // index into the planned watches
  core::Chunk chunk;
  unsigned pool = 0;                   // arch.pool_of(slot class of chunk.type)
  std::optional<unsigned> slot;        // slot index inside the pool; nullopt: no fixed slot
  bool rotates = false;                // flexible plan: time-sliced with other watches
  std::vector<std::size_t> shared_by;  // watches using this same slot (or rotating chunk), in order
};

struct PoolUse {
  unsigned needed = 0;     // distinct chunks of this pool over all watches
  unsigned available = 0;  // slots the kernel grants one task (accountant usage)
  unsigned free = 0;       // available minus fixed slots taken: what rotating watches share
};

struct WatchPlan {
  bool fits = false;      // every watch gets a fixed slot, or (flexible) can at least rotate
  bool flexible = false;
  std::vector<PlannedChunk> chunks;      // watch order, each watch's chunks in address order
  std::vector<PoolUse> pools;            // one per arch pool
  unsigned pool = 0;                     // the pool that decides the verdict (most over budget)
  std::vector<std::size_t> overflowed;   // watches that did not get fixed slots, in order
  std::vector<std::size_t> never_fit;    // watches that need more slots than exist, even alone
  std::vector<std::size_t> software_only;  // PlanWatch::software_only: not planned on slots

  unsigned slots_needed() const { return pools.at(pool).needed; }
  unsigned slots_available() const { return pools.at(pool).available; }
};

// Watches are placed in order, each all-or-nothing (a half-armed range watch would miss accesses
// silently), as arming them one by one would.
// Without `flexible`: a watch whose new chunks do not fit overflows (later ones may still fit);
// any overflow makes the plan not fit.
// With `flexible`: core::pin_then_rotate, the rule `hwbp run|attach --flexible` applies
// (core/rotation.hpp): watches take fixed slots up to the first that does not fit; it and all
// later ones rotate through the slots left free, giving up fixed slots from the end until the
// largest rotating watch fits in them. Fits unless one watch alone needs more slots than the
// pool has.
// ncpus: possible CPUs (the kernel checks every one for a task's cpu == -1 breakpoint).
// Throws hwbp::Error(invalid_request) "watch spec 'LABEL': <validate_range message>" for the
// first invalid watch.
WatchPlan plan_watches(const core::ArchInfo& arch, unsigned ncpus, std::span<const PlanWatch> watches,
                       bool flexible);

// "mixed" (one shared pool, x86), else "inst" / "data" (aarch64 BRPs / WRPs).
const char* pool_name(const core::ArchInfo& arch, unsigned pool) noexcept;

}  // namespace hwbp::cli
