// --flexible: more watches than debug-register slots. core::pin_then_rotate decides which
// watches are pinned; the rest take turns on the slots left free (the rotation pool), one time
// slice each, a whole watch (all its chunks) at a time so that a hit while it is armed is exact
// (core::plan_turn decides each turn). A pool slot is moved in place with
// PERF_EVENT_IOC_MODIFY_ATTRIBUTES: no close/reopen, and the kernel's inherited copies in every
// thread follow. The library's rotator (src/inprocess/rotation.cpp) applies the same decisions.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "hwbp/error.hpp"
#include "slot_arming.hpp"

namespace hwbp::cli {

core::Pinning SlotArming::choose_pinned(const std::vector<core::WatchId>& todo) const {
  const std::vector<unsigned> per_pool = budget();
  // The pool's slots are free for rotating watches; pinned ones only get slots nobody holds.
  std::vector<unsigned> pool_held(per_pool.size(), 0);
  for (int slot : pool_) ++pool_held[arch_.pool_of(core::slot_class_of(table_.key(slot).chunk.type))];
  auto pin = [&](std::size_t limit) {
    core::SlotTable trial = table_;
    core::Pinning p;
    for (; p.pinned < limit; ++p.pinned) {
      const std::vector<core::SlotKey> keys = keys_of(chunks_of(watches_.at(todo[p.pinned])));
      auto r = trial.plan(keys);
      if (!r.plan) break;
      trial.commit(*r.plan, keys);
    }
    for (unsigned q = 0; q < per_pool.size(); ++q) {
      const unsigned load = trial.thread_load(core::kProcessTarget, q);
      p.free.push_back(per_pool[q] - std::min(load, per_pool[q]) + pool_held[q]);
    }
    return p;
  };
  auto need = [&](std::size_t i) {
    return core::slots_needed_alone(arch_, chunks_of(watches_.at(todo[i])));
  };
  std::vector<unsigned> rotating_need(per_pool.size(), 0);
  for (core::WatchId id : rotating_) {
    const std::vector<unsigned> n = core::slots_needed_alone(arch_, chunks_of(watches_.at(id)));
    for (std::size_t q = 0; q < n.size(); ++q) rotating_need[q] = std::max(rotating_need[q], n[q]);
  }
  return core::pin_then_rotate(todo.size(), per_pool, need, pin, rotating_need);
}

void SlotArming::join_rotation(const std::vector<core::WatchId>& joining) {
  const auto now = Clock::now();
  for (core::WatchId id : joining) {
    Watch& w = watches_.at(id);
    w.rotating = true;
    w.state = Watch::State::armed;  // watched; armed only during its turns
    w.clock.set_watched(true, now);
    rotating_.push_back(id);
    delivery_.watch_armed(w);
    delivery_.forget_shadow(id);  // unknown until its first turn
  }
  std::sort(rotating_.begin(), rotating_.end());  // round robin in command-line order
  std::size_t total = 0, largest = 0;
  core::WatchId largest_watch = rotating_.front();
  for (core::WatchId id : rotating_) {
    const std::size_t n = chunks_of(watches_.at(id)).size();
    total += n;
    if (n > largest) largest = n, largest_watch = id;
  }
  grow_pool(total);
  if (pool_.size() < largest) {
    const Watch& w = watches_.at(largest_watch);
    throw Error(Errc::no_slots,
                fmt::format("watch '{}' ({} bytes at {:#x}) needs {} debug-register slots at once, "
                            "but the pinned watches leave {} to rotate through; watch fewer bytes",
                            w.spec.text, w.len, w.addr, largest, pool_.size()));
  }
  rotate();  // the first turn starts now (at the exec stop: before the program runs)
}

void SlotArming::grow_pool(std::size_t want) {
  std::vector<std::size_t> sizes;
  for (core::WatchId id : rotating_) sizes.push_back(chunks_of(watches_.at(id)).size());
  want = std::min(want, core::pool_slots_wanted(sizes));  // more would only stay parked
  while (pool_.size() < want && free_slots() > 0) {
    core::SlotKey key{core::kParkedChunk, core::kProcessTarget, true};
    key.rotation = ++rotation_ids_;  // never shared with another request
    std::vector<core::SlotKey> keys{key};
    auto result = table_.plan(keys);
    if (!result.plan) return;
    table_.commit(*result.plan, keys);
    int slot = result.plan->slot_of_key.front();
    try {
      open_on_all_threads({slot}, keys);
    } catch (...) {
      table_.release(result.plan->slot_of_key);
      slot_events_.erase(slot);
      throw;
    }
    pool_.push_back(slot);
    turns_[slot] = Turn{};
    next_rotation_ = Clock::now();  // reschedule on the larger pool at the next tick
  }
}

void SlotArming::shrink_pool() {
  park_all(Clock::now());
  int slot = pool_.back();
  pool_.pop_back();
  turns_.erase(slot);
  slot_events_.erase(slot);  // closes the fds (and the inherited copies)
  if (auto m = mapped_.find(slot); m != mapped_.end()) {
    const Mapping old = m->second;
    mapped_.erase(m);
    unmap(old);
  }
  std::vector<int> one{slot};
  table_.release(one);
  next_rotation_ = Clock::now();  // the others were parked: reschedule at once
}

std::optional<SlotArming::Clock::time_point> SlotArming::next_rotation() const {
  if (rotating_.empty() || pool_.empty()) return std::nullopt;
  return next_rotation_;
}

void SlotArming::rotate() {
  if (rotating_.empty() || pool_.empty()) return;
  const auto now = Clock::now();
  next_rotation_ = now + slice_;
  std::vector<std::size_t> sizes;
  std::vector<bool> armed;
  for (core::WatchId id : rotating_) {
    sizes.push_back(chunks_of(watches_.at(id)).size());
    armed.push_back(watches_.at(id).clock.armed());
  }
  const core::TurnPlan turn = core::plan_turn(sizes, armed, cursor_, pool_.size());
  cursor_ = turn.cursor;
  if (!turn.changes) return;
  park_all(now);
  std::size_t next = 0;
  for (std::size_t pos : turn.armed) {
    std::vector<int> slots(pool_.begin() + long(next), pool_.begin() + long(next + sizes[pos]));
    next += sizes[pos];
    take_turn(rotating_[pos], slots, now);
  }
  for (; next < pool_.size(); ++next) move_slot(pool_[next], std::nullopt, core::kParkedChunk);
}

void SlotArming::park_all(Clock::time_point now) {
  // Only the bookkeeping: the events are moved (or parked) right after by the caller, and a
  // SIGTRAP of the old turn is dropped by its generation meanwhile.
  for (auto& [slot, turn] : turns_) {
    if (turn.watch) watches_.at(*turn.watch).clock.set_armed(false, now);
    turn.watch.reset();
  }
}

void SlotArming::take_turn(core::WatchId id, const std::vector<int>& slots, Clock::time_point now) {
  Watch& w = watches_.at(id);
  const std::vector<core::Chunk> chunks = chunks_of(w);
  const BeforeArming before = before_arming(w, slots);
  delivery_.forget_shadow(id);  // until settled below
  for (std::size_t k = 0; k < chunks.size(); ++k) move_slot(slots[k], id, chunks[k]);
  settle_shadow(w, slots, before);
  w.clock.set_armed(true, now);
}

void SlotArming::move_slot(int slot, std::optional<core::WatchId> watch, const core::Chunk& chunk) {
  Turn& turn = turns_[slot];
  turn.watch = watch;
  turn.addr = chunk.addr;
  turn.generation = ++generation_;  // SIGTRAPs of the previous turn no longer match
  perf::BreakpointAttr a;
  a.addr = chunk.addr;
  a.len = chunk.len;
  a.type = chunk.type;
  a.disabled = false;
  a.sig_data = sig_data(slot, turn.generation);
  // A delivery that finds the watch by the event's breakpoint at the hit (BPF) learns the new
  // chunk before the move and forgets the old one after it.
  std::optional<Mapping> old;
  if (watch) {
    old = map_slot(slot, *watch, chunk);
  } else if (auto m = mapped_.find(slot); m != mapped_.end()) {
    old = m->second;
    mapped_.erase(m);
  }
  for (auto& ev : slot_events_[slot].events) {
    int rc = ev.modify(a);
    if (rc < 0 && rc != -ESRCH)  // ESRCH: that thread has exited
      throw Error(Errc::system,
                  fmt::format("cannot move a rotation slot (PERF_EVENT_IOC_MODIFY_ATTRIBUTES): "
                              "{}; --flexible needs Linux 4.17 or later", std::strerror(-rc)), -rc);
  }
  if (old && !(watch && *old == Mapping(chunk, *watch))) unmap(*old);
}

void SlotArming::clear_rotation(Clock::time_point now) {
  park_all(now);
  if (!pool_.empty()) table_.release(pool_);
  for (int slot : pool_) {
    slot_events_.erase(slot);
    mapped_.erase(slot);
  }
  pool_.clear();
  turns_.clear();
  rotating_.clear();
  cursor_ = 0;
  next_rotation_.reset();
}

}  // namespace hwbp::cli
