// Flexible watches: more watches than slots. The rotator holds the slots that pinned watches
// leave free (per target) and lets the flexible watches take turns on them, one time slice each,
// moving each slot in place with PERF_EVENT_IOC_MODIFY_ATTRIBUTES (no close/reopen, inherited
// copies follow). The decisions (which watches take the next turn, how large the pool should be,
// where a parked slot points) are core/rotation.hpp's, shared with the CLI; this file does the
// moving. A watch's chunks are scheduled together, so a hit while it is armed is exact;
// coverage() records how much of the time that was.
#include <algorithm>
#include <cerrno>
#include <thread>

#include "core/rotation.hpp"
#include "inprocess/registry.hpp"
#include "perf/errors.hpp"

namespace hwbp::inprocess {
namespace {

std::uint64_t target_key(const Target& t) {
  return t.kind == Target::Kind::process ? core::kProcessTarget : static_cast<std::uint64_t>(t.tid);
}

// Slots each watch of the pool needs, in rotation order.
template <class WatchMap>
std::vector<std::size_t> sizes_of(const std::vector<std::uint64_t>& ids, const WatchMap& w) {
  std::vector<std::size_t> sizes;
  for (std::uint64_t id : ids) sizes.push_back(w.at(id)->keys.size());
  return sizes;
}

template <class WatchMap>
std::size_t total_chunks(const std::vector<std::uint64_t>& ids, const WatchMap& w) {
  return core::pool_slots_wanted(sizes_of(ids, w));
}

}  // namespace

Registry::RotationPool& Registry::pool_for(const Target& target) {
  RotationPool& pool = rotation_[target_key(target)];
  pool.target = target;
  return pool;
}

// Adds rotation slots until the pool has `want` or no more fit. Each slot is a table entry the
// rotator holds one reference to, with its events open and disabled.
bool Registry::grow_pool(RotationPool& pool, std::size_t want) {
  while (pool.slots.size() < want) {
    core::SlotKey key;
    key.chunk = core::kParkedChunk;  // until a watch is scheduled in
    key.target = target_key(pool.target);
    key.rotation = next_rotation_id_++;
    std::vector<core::SlotKey> keys{key};
    core::SlotTable::PlanResult result = table_.plan(keys);
    if (!result.plan) return false;
    int slot = result.plan->slot_of_key.front();
    if (admission_.admit(slot, key)) return false;
    std::uint32_t generation = next_generation_++;
    perf::BreakpointAttr a;
    a.addr = core::kParkedChunk.addr;  // nothing can hit it while the slot is parked
    a.len = core::kParkedChunk.len;
    a.type = core::kParkedChunk.type;
    a.disabled = true;
    a.sigtrap = true;
    a.remove_on_exec = true;
    a.sig_data = sig_data_of(slot, generation);
    ThreadEvents events;
    try {
      events = open_on_target(a, pool.target, [&](pid_t tid) { return slots_on_thread(tid); });
    } catch (const Error& e) {
      admission_.release(slot);
      if (e.code() == Errc::no_slots) return false;  // held by someone else: rotate on fewer
      throw;
    }
    table_.commit(*result.plan, keys);
    hw_[slot].generation = generation;
    hw_[slot].threads = std::move(events);
    hw_[slot].hw_enabled = false;
    pool.slots.push_back(slot);
  }
  return true;
}

void Registry::shrink_pool(RotationPool& pool) noexcept {
  if (pool.slots.empty()) return;
  int slot = pool.slots.back();
  for (std::uint64_t id : pool.order) {  // the watch on that slot goes back to waiting
    WatchRecord& rec = *watches_.at(id);
    if (std::find(rec.slots.begin(), rec.slots.end(), slot) != rec.slots.end()) unschedule(rec);
  }
  pool.slots.pop_back();
  SlotHw& hw = hw_[slot];
  hw.threads = ThreadEvents{};  // close() removes the events synchronously
  hw.hw_enabled = false;
  active_.lower(static_cast<unsigned>(slot));
  std::vector<int> one{slot};
  table_.release(one);
  dispatch_table().publish(slot, nullptr);
  admission_.release(slot);
}

bool Registry::shrink_any_pool() noexcept {
  for (auto& [key, pool] : rotation_) {
    if (!pool.slots.empty()) {
      shrink_pool(pool);
      return true;
    }
  }
  return false;
}

void Registry::schedule(WatchRecord& rec, const std::vector<int>& slots) noexcept {
  rec.slots = slots;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    int slot = slots[i];
    core::SlotKey key = rec.keys[i];
    key.rotation = table_.key(slot).rotation;
    table_.rekey(slot, key);
    // A new generation: a signal still in flight from the previous chunk is dropped instead of
    // being reported against this one.
    hw_[slot].generation = next_generation_++;
    // The slot is parked (disabled): move it, then let sync_hw_state() read the shadow and
    // enable it, which confirms the shadow against the kernel's count.
    publish_slot(slot);
    perf::BreakpointAttr a = attr_for(slot);
    for (perf::Event& ev : hw_[slot].threads.events) ev.modify(a);
    try {
      sync_hw_state(slot);
    } catch (...) {  // an enable that fails leaves this turn unarmed; coverage shows it
    }
  }
  update_armed(rec);
}

void Registry::unschedule(WatchRecord& rec) noexcept {
  std::vector<int> slots = rec.slots;
  rec.slots.clear();
  for (int slot : slots) {
    publish_slot(slot);
    try {
      sync_hw_state(slot);  // no subscriber left: disables
    } catch (...) {
    }
  }
  update_armed(rec);
}

// One time slice: the next watches in round-robin order that fit take the pool's slots.
void Registry::rotate(RotationPool& pool) noexcept {
  std::vector<bool> armed;
  for (std::uint64_t id : pool.order) armed.push_back(!watches_.at(id)->slots.empty());
  const core::TurnPlan turn =
      core::plan_turn(sizes_of(pool.order, watches_), armed, pool.cursor, pool.slots.size());
  pool.cursor = turn.cursor;
  if (!turn.changes) return;
  for (std::uint64_t id : pool.order) unschedule(*watches_.at(id));
  std::size_t next = 0;
  for (std::size_t pos : turn.armed) {
    WatchRecord& rec = *watches_.at(pool.order[pos]);
    std::vector<int> slots(pool.slots.begin() + static_cast<long>(next),
                           pool.slots.begin() + static_cast<long>(next + rec.keys.size()));
    next += rec.keys.size();
    schedule(rec, slots);
  }
}

std::uint64_t Registry::arm_flexible(std::unique_ptr<WatchRecord> owned) {
  owned->id = next_id_++;
  WatchRecord& rec = *owned;
  watches_.emplace(rec.id, std::move(owned));
  RotationPool& pool = pool_for(rec.target);
  pool.order.push_back(rec.id);
  try {
    grow_pool(pool, total_chunks(pool.order, watches_));
  } catch (...) {
    pool.order.pop_back();
    watches_.erase(rec.id);
    throw;
  }
  if (pool.slots.size() < rec.keys.size()) {
    std::string message = "flexible watch of " + std::to_string(rec.request.len) +
                          " byte(s) needs " + std::to_string(rec.keys.size()) +
                          " slots at once but pinned watches leave " +
                          std::to_string(pool.slots.size()) +
                          " to rotate; watch fewer bytes or unpin a watch";
    pool.order.pop_back();
    if (pool.order.empty()) {
      while (!pool.slots.empty()) shrink_pool(pool);
      rotation_.erase(target_key(rec.target));
    }
    watches_.erase(rec.id);  // `rec` is gone from here on
    throw Error(Errc::no_slots, message, ENOSPC);
  }
  rotate(pool);
  start_rotator();
  return rec.id;
}

void Registry::remove_flexible(WatchRecord& rec) noexcept {
  RotationPool& pool = pool_for(rec.target);
  unschedule(rec);
  pool.order.erase(std::remove(pool.order.begin(), pool.order.end(), rec.id), pool.order.end());
  if (pool.cursor >= pool.order.size()) pool.cursor = 0;
  if (pool.order.empty()) {
    while (!pool.slots.empty()) shrink_pool(pool);
    rotation_.erase(target_key(rec.target));
    return;
  }
  rotate(pool);
}

void Registry::retarget_flexible(WatchRecord& rec, const core::WatchRequest& request,
                                 std::vector<core::SlotKey> keys) {
  RotationPool& pool = pool_for(rec.target);
  if (keys.size() > pool.slots.size()) {
    std::size_t others = total_chunks(pool.order, watches_) - rec.keys.size();
    grow_pool(pool, others + keys.size());
    if (keys.size() > pool.slots.size())
      throw Error(Errc::no_slots,
                  "flexible watch would need " + std::to_string(keys.size()) +
                      " slots at once but only " + std::to_string(pool.slots.size()) +
                      " rotate; the watch is unchanged",
                  ENOSPC);
  }
  bool was_scheduled = !rec.slots.empty();
  std::vector<int> slots = rec.slots;
  unschedule(rec);
  rec.request = request;
  rec.keys = std::move(keys);
  if (was_scheduled && slots.size() >= rec.keys.size()) {
    slots.resize(rec.keys.size());
    schedule(rec, slots);
  } else {
    rotate(pool);
  }
}

void Registry::set_rotation_interval(std::chrono::microseconds interval) {
  std::lock_guard<std::mutex> lock(mu_);
  interval_ = std::max(interval, std::chrono::microseconds{100});
  rotator_cv_.notify_all();
}

void Registry::start_rotator() {
  if (rotator_running_) return;
  rotator_running_ = true;
  // Detached: the registry is never destroyed, and the thread ends itself when no flexible
  // watch is left.
  std::thread([this] { rotator_loop(); }).detach();
}

void Registry::rotator_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    rotator_cv_.wait_for(lock, interval_);
    if (rotation_.empty()) {
      rotator_running_ = false;
      return;
    }
    for (auto& [key, pool] : rotation_) rotate(pool);
  }
}

}  // namespace hwbp::inprocess
