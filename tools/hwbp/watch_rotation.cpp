// --flexible: more watches than debug-register slots. The watches that fit are pinned; the rest
// take turns on the slots left free (the rotation pool), one time slice each, a whole watch (all
// its chunks) at a time so that a hit while it is armed is exact. A pool slot is moved in place
// with PERF_EVENT_IOC_MODIFY_ATTRIBUTES: no close/reopen, and the kernel's inherited copies in
// every thread follow. Same semantics as the in-process rotator (src/inprocess/rotation.cpp).
#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "bpf/hit_program.hpp"
#include "hwbp/error.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {
namespace {

// A parked pool slot watches one byte of an unmapped user page: nothing can hit it.
constexpr core::Chunk kParked{0x1000, 1, core::HwType::write};

}  // namespace

// ---- Watch: coverage clock ----

void Watch::set_armed(bool on, Clock::time_point now) {
  if (on && !armed_since) armed_since = now;
  if (!on && armed_since) armed_time += now - *armed_since, armed_since.reset();
}

void Watch::set_watched(bool on, Clock::time_point now) {
  if (on && !watched_since) watched_since = now;
  if (!on && watched_since) watched_time += now - *watched_since, watched_since.reset();
}

double Watch::coverage() const {
  auto now = Clock::now();
  auto armed = armed_time + (armed_since ? now - *armed_since : Clock::duration{});
  auto watched = watched_time + (watched_since ? now - *watched_since : Clock::duration{});
  if (watched.count() <= 0) return armed_since ? 1.0 : 0.0;
  return std::min(1.0, static_cast<double>(armed.count()) / static_cast<double>(watched.count()));
}

// ---- WatchSet: rotation ----

std::vector<int> WatchSet::choose_pinned(const std::vector<int>& todo) const {
  unsigned free = free_slots();
  std::size_t need = 0;  // the largest rotating watch: the pool must hold it at once
  for (int i : rotating_) need = std::max(need, chunks_of(watches_[std::size_t(i)]).size());
  std::vector<int> pinned;
  for (int i : todo) {
    std::size_t n = chunks_of(watches_[std::size_t(i)]).size();
    if (n <= free) pinned.push_back(i), free -= static_cast<unsigned>(n);
    else need = std::max(need, n);
  }
  // Give back the last pins (command-line order) until the rotation has room for its largest.
  while (need > free + pool_.size() && !pinned.empty()) {
    std::size_t n = chunks_of(watches_[std::size_t(pinned.back())]).size();
    free += static_cast<unsigned>(n);
    need = std::max(need, n);
    pinned.pop_back();
  }
  return pinned;
}

void WatchSet::join_rotation(const std::vector<int>& joining) {
  auto now = Watch::Clock::now();
  for (int i : joining) {
    Watch& w = watches_[std::size_t(i)];
    w.rotating = true;
    w.state = Watch::State::armed;  // watched; armed only during its turns
    w.set_watched(true, now);
    rotating_.push_back(i);
    bpf_describe(i);  // shadow unknown until its first turn
  }
  std::sort(rotating_.begin(), rotating_.end());  // round robin in command-line order
  std::size_t total = 0, largest = 0;
  int largest_watch = rotating_.front();
  for (int i : rotating_) {
    std::size_t n = chunks_of(watches_[std::size_t(i)]).size();
    total += n;
    if (n > largest) largest = n, largest_watch = i;
  }
  grow_pool(total);
  if (pool_.size() < largest) {
    const Watch& w = watches_[std::size_t(largest_watch)];
    throw Error(Errc::no_slots,
                fmt::format("watch '{}' ({} bytes at {:#x}) needs {} debug-register slots at once, "
                            "but the pinned watches leave {} to rotate through; watch fewer bytes",
                            w.spec.text, w.len, w.addr, largest, pool_.size()));
  }
  rotate();  // the first turn starts now (at the exec stop: before the program runs)
}

void WatchSet::grow_pool(std::size_t want) {
  std::size_t total = 0;
  for (int i : rotating_) total += chunks_of(watches_[std::size_t(i)]).size();
  want = std::min(want, total);  // more slots than chunks would only stay parked
  while (pool_.size() < want && free_slots() > 0) {
    core::SlotKey key{kParked, core::kProcessTarget, true};
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
    next_rotation_ = Watch::Clock::now();  // reschedule on the larger pool at the next tick
  }
}

void WatchSet::shrink_pool() {
  park_all(Watch::Clock::now());
  int slot = pool_.back();
  pool_.pop_back();
  turns_.erase(slot);
  slot_events_.erase(slot);  // closes the fds (and the inherited copies)
  std::vector<int> one{slot};
  table_.release(one);
  next_rotation_ = Watch::Clock::now();  // the others were parked: reschedule at once
}

std::optional<Watch::Clock::time_point> WatchSet::next_rotation() const {
  if (rotating_.empty() || pool_.empty()) return std::nullopt;
  return next_rotation_;
}

std::vector<int> WatchSet::next_turn() const {
  std::vector<int> chosen;
  std::size_t used = 0, n = rotating_.size();
  for (std::size_t k = 0; k < n; ++k) {
    int i = rotating_[(cursor_ + k) % n];
    std::size_t c = chunks_of(watches_[std::size_t(i)]).size();
    if (used + c > pool_.size()) break;  // whole watches only
    chosen.push_back(i);
    used += c;
  }
  return chosen;
}

void WatchSet::rotate() {
  if (rotating_.empty() || pool_.empty()) return;
  auto now = Watch::Clock::now();
  next_rotation_ = now + slice_;
  std::vector<int> chosen = next_turn();
  std::size_t n = rotating_.size();
  if (chosen.empty()) {  // the next watch is larger than the pool (shrunk by the loader hook)
    cursor_ = (cursor_ + 1) % n;
    return;
  }
  bool all_armed = std::all_of(chosen.begin(), chosen.end(),
                               [&](int i) { return watches_[std::size_t(i)].armed_since.has_value(); });
  if (chosen.size() == n && all_armed) return;  // everything fits and is armed: nothing to move
  cursor_ = (cursor_ + chosen.size()) % n;
  park_all(now);
  std::size_t next = 0;
  for (int i : chosen) {
    std::size_t c = chunks_of(watches_[std::size_t(i)]).size();
    std::vector<int> slots(pool_.begin() + long(next), pool_.begin() + long(next + c));
    next += c;
    take_turn(i, slots, now);
  }
  for (; next < pool_.size(); ++next) move_slot(pool_[next], -1, kParked);
}

void WatchSet::park_all(Watch::Clock::time_point now) {
  // Only the bookkeeping: the events are moved (or parked) right after by the caller, and a
  // SIGTRAP of the old turn is dropped by its generation meanwhile.
  for (auto& [slot, turn] : turns_) {
    if (turn.watch >= 0) watches_[std::size_t(turn.watch)].set_armed(false, now);
    turn.watch = -1;
  }
}

std::int64_t WatchSet::slot_count(int slot) const {
  std::int64_t total = 0;
  auto it = slot_events_.find(slot);
  if (it == slot_events_.end()) return 0;
  for (const auto& ev : it->second.events) total += std::max<std::int64_t>(0, ev.count());
  return total;
}

void WatchSet::take_turn(int index, std::vector<int>& slots, Watch::Clock::time_point now) {
  Watch& w = watches_[std::size_t(index)];
  auto chunks = chunks_of(w);
  std::int64_t before = 0;
  for (int slot : slots) before += slot_count(slot);
  if (bpf_) bpf_->set_shadow(std::uint32_t(index), std::nullopt);  // until settled below
  for (std::size_t k = 0; k < chunks.size(); ++k) move_slot(slots[k], index, chunks[k]);
  settle_shadow(index, slots, before);
  w.set_armed(true, now);
}

void WatchSet::settle_shadow(int index, const std::vector<int>& slots, std::int64_t before) {
  // The tracee keeps running: a write between arming and the re-read would make the shadow
  // "new" rather than "old". The kernel's hit count, unchanged from before arming until after
  // the shadow is stored, proves that none happened (as dispatch.cpp confirm_shadow does);
  // otherwise the next hit says "unknown". BPF: the program keeps its own copy, stored before
  // the count is taken, so that a hit racing the store is caught too.
  Watch& w = watches_[std::size_t(index)];
  auto bytes = read_bytes(w);
  if (bpf_ && bytes) bpf_->set_shadow(std::uint32_t(index), bytes);
  std::int64_t after = 0;
  for (int slot : slots) after += slot_count(slot);
  w.shadow = bytes.value_or(std::vector<std::uint8_t>{});
  w.old_unknown = !bytes || after != before;
  if (bpf_ && w.old_unknown) bpf_->set_shadow(std::uint32_t(index), std::nullopt);
}

void WatchSet::move_slot(int slot, int watch, const core::Chunk& chunk) {
  Turn& turn = turns_[slot];
  turn.watch = watch;
  turn.addr = chunk.addr;
  turn.generation = ++generation_;  // SIGTRAPs of the previous turn no longer match
  perf::BreakpointAttr a;
  a.addr = chunk.addr;
  a.len = chunk.len;
  a.type = chunk.type;
  a.disabled = false;
  a.sig_data = kTag | (std::uint64_t{turn.generation} << 16) | static_cast<std::uint64_t>(slot);
  // BPF: the program finds the watch by the event's breakpoint at the hit, so the new chunk
  // is mapped before the move and the old one unmapped after it.
  std::optional<BpfMapping> old;
  if (bpf_) {
    if (auto m = bpf_mapped_.find(slot); m != bpf_mapped_.end()) old = m->second;
    bpf_map_slot(slot, watch, chunk);
  }
  for (auto& ev : slot_events_[slot].events) {
    int rc = ev.modify(a);
    if (rc < 0 && rc != -ESRCH)  // ESRCH: that thread has exited
      throw Error(Errc::system,
                  fmt::format("cannot move a rotation slot (PERF_EVENT_IOC_MODIFY_ATTRIBUTES): "
                              "{}; --flexible needs Linux 4.17 or later", std::strerror(-rc)), -rc);
  }
  if (old && *old != BpfMapping(chunk, watch)) bpf_forget(*old);
}

void WatchSet::clear_rotation(Watch::Clock::time_point now) {
  park_all(now);
  if (!pool_.empty()) table_.release(pool_);
  for (int slot : pool_) slot_events_.erase(slot);
  pool_.clear();
  turns_.clear();
  rotating_.clear();
  cursor_ = 0;
  next_rotation_.reset();
}

}  // namespace hwbp::cli
