#include "core/rotation.hpp"

#include <algorithm>
#include <numeric>

namespace hwbp::core {

namespace {

bool exceeds(const std::vector<unsigned>& need, const std::vector<unsigned>& have) {
  for (std::size_t p = 0; p < need.size(); ++p)
    if (need[p] > (p < have.size() ? have[p] : 0u)) return true;
  return false;
}

}  // namespace

TurnPlan plan_turn(std::span<const std::size_t> slots_needed, const std::vector<bool>& armed_now,
                   std::size_t cursor, std::size_t pool_slots) {
  TurnPlan turn;
  const std::size_t n = slots_needed.size();
  turn.cursor = n == 0 ? 0 : cursor % n;
  if (n == 0 || pool_slots == 0) return turn;
  std::size_t used = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t pos = (turn.cursor + k) % n;
    if (used + slots_needed[pos] > pool_slots) break;  // whole watches only
    turn.armed.push_back(pos);
    used += slots_needed[pos];
  }
  if (turn.armed.empty()) {  // the next watch is larger than the pool: skip it this turn
    turn.cursor = (turn.cursor + 1) % n;
    return turn;
  }
  const bool all_armed = std::all_of(turn.armed.begin(), turn.armed.end(), [&](std::size_t pos) {
    return pos < armed_now.size() && armed_now[pos];
  });
  if (turn.armed.size() == n && all_armed) {  // everything fits and is armed: nothing to move
    turn.armed.clear();
    return turn;
  }
  turn.changes = true;
  turn.cursor = (turn.cursor + turn.armed.size()) % n;
  return turn;
}

std::size_t pool_slots_wanted(std::span<const std::size_t> slots_needed) noexcept {
  return std::accumulate(slots_needed.begin(), slots_needed.end(), std::size_t{0});
}

Pinning pin_then_rotate(std::size_t count, const std::vector<unsigned>& budget,
                        const std::function<std::vector<unsigned>(std::size_t)>& need,
                        const std::function<Pinning(std::size_t limit)>& pin,
                        const std::vector<unsigned>& rotating_need) {
  std::vector<std::vector<unsigned>> needs;
  for (std::size_t i = 0; i < count; ++i) needs.push_back(need(i));
  Pinning p = pin(count);
  for (;;) {
    // Does some rotating watch that could be armed alone not fit in the slots left free?
    bool squeezed = !exceeds(rotating_need, budget) && exceeds(rotating_need, p.free);
    for (std::size_t i = p.pinned; i < count && !squeezed; ++i)
      squeezed = !exceeds(needs[i], budget) && exceeds(needs[i], p.free);
    if (!squeezed || p.pinned == 0) return p;
    p = pin(p.pinned - 1);
  }
}

std::vector<unsigned> slots_needed_alone(const ArchInfo& arch, std::span<const Chunk> chunks) {
  std::vector<unsigned> n(arch.pool_count(), 0);
  for (std::size_t k = 0; k < chunks.size(); ++k)
    if (std::find(chunks.begin(), chunks.begin() + static_cast<long>(k), chunks[k]) ==
        chunks.begin() + static_cast<long>(k))
      ++n[arch.pool_of(slot_class_of(chunks[k].type))];
  return n;
}

}  // namespace hwbp::core
