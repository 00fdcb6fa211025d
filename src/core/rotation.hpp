// Flexible watches: more watches than debug-register slots. The watches that fit keep fixed slots
// ("pinned"); the others take turns ("rotate") on a pool of the slots left free, one time slice
// each, a whole watch (all its chunks) at a time so that a hit while it is armed is exact. These
// are the decisions, pure and shared by the library's rotator (src/inprocess/rotation.cpp), the
// CLI's (tools/hwbp/slot_rotation.cpp) and `hwbp plan --flexible`, which predicts the CLI. How a
// pool slot moves (PERF_EVENT_IOC_MODIFY_ATTRIBUTES, in place, reaching inherited copies) is the
// caller's.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <vector>

#include "core/split.hpp"

namespace hwbp::core {

// What a pool slot watches between turns: one byte of the page at 0x1000, which Linux never maps
// for a user process (mm/util.c: mmap_min_addr, at least 4096 with CONFIG_DEFAULT_MMAP_MIN_ADDR),
// so nothing can hit it.
inline constexpr Chunk kParkedChunk{0x1000, 1, HwType::write};

// ---- turns ----

struct TurnPlan {
  // False: the turn in place stays (everything already fits and is armed, or nothing can be
  // armed this turn). True: disarm every rotating watch, then arm `armed`.
  bool changes = false;
  // Positions (in rotation order) of the watches armed this turn. Each takes the next
  // slots_needed[pos] pool slots, in this order, from the pool's first slot.
  std::vector<std::size_t> armed;
  // Where the next turn starts.
  std::size_t cursor = 0;
};

// One time slice, round robin from `cursor`: the next watches that fit in the pool as a whole
// (stopping at the first that does not). A watch larger than the whole pool (which shrank) is
// skipped for this turn. armed_now[pos]: the watch holds its slots now.
TurnPlan plan_turn(std::span<const std::size_t> slots_needed, const std::vector<bool>& armed_now,
                   std::size_t cursor, std::size_t pool_slots);

// Slots the pool should hold: one per rotating chunk (more would only stay parked). The pool
// gets as many of them as are free; pinned watches take priority and may shrink it.
std::size_t pool_slots_wanted(std::span<const std::size_t> slots_needed) noexcept;

// ---- pinning ----

// What pinning a prefix of the new watches left: watches [0, pinned) got fixed slots, `free`
// (per pool) is what the rotation can use.
struct Pinning {
  std::size_t pinned = 0;
  std::vector<unsigned> free;
};

// The pin-then-rotate rule: new watches take fixed slots in order up to the first that does not
// fit; it and all later ones rotate through the slots left free. A rotating watch is armed whole,
// so those slots must hold the largest rotating watch (new, or already rotating: `rotating_need`
// per pool, empty for none): pins are given back from the end until they do. A watch that needs
// more than `budget` even alone can never be armed and is left out of that rule.
//   count        the new watches, in command-line order
//   budget       per pool, the slots a thread has
//   need(i)      per pool, the slots new watch i needs when armed alone
//   pin(limit)   pins watches [0, limit) in order (with slot sharing), stopping at the first
//                that does not fit
Pinning pin_then_rotate(std::size_t count, const std::vector<unsigned>& budget,
                        const std::function<std::vector<unsigned>(std::size_t)>& need,
                        const std::function<Pinning(std::size_t limit)>& pin,
                        const std::vector<unsigned>& rotating_need = {});

// Per pool, the distinct chunks of a watch: the slots it needs when armed alone.
std::vector<unsigned> slots_needed_alone(const ArchInfo& arch, std::span<const Chunk> chunks);

}  // namespace hwbp::core
