#include "core/slot_table.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace hwbp::core {

namespace {

// Planning is a hot path (hwbp::kvm re-plans on every change of a guest's watch set), so it works
// on fixed arrays sized by the capacity limit, and the plan it returns is inline too.
constexpr std::size_t kMaxEntries = kMaxTableEntries;

// live[i]: key of entry i, or nullptr when it is free.
struct LiveKeys {
  std::array<const SlotKey*, kMaxEntries> key;  // [0, size) set by live_keys
  std::size_t size = 0;
};

// One entry (existing or planned) as the load computation sees it.
struct LoadItem {
  std::uint64_t target;
  unsigned pool;
};

// Existing entries plus created ones never exceed the table's capacity.
struct LoadItems {
  std::array<LoadItem, kMaxEntries> item;  // [0, size) set by push
  std::size_t size = 0;
  void push(LoadItem it) { item[size++] = it; }
  std::span<const LoadItem> view() const { return {item.data(), size}; }
};

// Busiest thread of `pool`: process-wide entries land on every thread, a per-tid entry only on
// its thread, and threads never constrain each other (only one runs on a CPU at a time).
unsigned peak_load(std::span<const LoadItem> items, unsigned pool) {
  unsigned process = 0;
  for (const auto& it : items) process += (it.pool == pool && it.target == kProcessTarget);
  unsigned peak = process;
  for (const auto& it : items) {
    if (it.pool != pool || it.target == kProcessTarget) continue;
    unsigned own = 0;
    for (const auto& o : items) own += (o.pool == pool && o.target == it.target);
    peak = std::max(peak, process + own);
  }
  return peak;
}

// Fills slot_of_key and created; false when a new entry is needed and none is free.
bool map_keys(const LiveKeys& live, std::span<const SlotKey> keys, SlotTable::Plan& p) {
  std::uint64_t taken = 0;  // bit i: entry i is live or created by this plan
  for (std::size_t i = 0; i < live.size; ++i)
    if (live.key[i]) taken |= 1ull << i;
  if (keys.size() > SlotList::capacity()) return false;
  for (std::size_t k = 0; k < keys.size(); ++k) {
    int slot = -1;
    for (std::size_t i = 0; i < live.size && slot < 0; ++i)
      if (live.key[i] && *live.key[i] == keys[k]) slot = static_cast<int>(i);
    // Identical keys inside one plan share the entry the first of them created.
    for (std::size_t j = 0; j < k && slot < 0; ++j)
      if (keys[j] == keys[k]) slot = p.slot_of_key[j];
    if (slot < 0) {
      std::size_t free = 0;
      while (free < live.size && ((taken >> free) & 1)) ++free;
      if (free == live.size) return false;
      taken |= 1ull << free;
      slot = static_cast<int>(free);
      p.created.push_back(slot);
    }
    p.slot_of_key.push_back(slot);
  }
  return true;
}

// Existing entries plus the ones the plan creates.
LoadItems load_items(const ArchInfo& arch, const LiveKeys& live, std::span<const SlotKey> keys,
                     const SlotTable::Plan& p) {
  auto pool_of = [&](const SlotKey& key) { return arch.pool_of(slot_class_of(key.chunk.type)); };
  LoadItems items;
  for (std::size_t i = 0; i < live.size; ++i)
    if (live.key[i]) items.push({live.key[i]->target, pool_of(*live.key[i])});
  for (int slot : p.created) {
    const auto k =
        std::find(p.slot_of_key.begin(), p.slot_of_key.end(), slot) - p.slot_of_key.begin();
    items.push({keys[k].target, pool_of(keys[k])});
  }
  return items;
}

// A template so the private Entry type is deduced, not named.
template <typename Entries>
LiveKeys live_keys(const Entries& entries) {
  LiveKeys live;
  live.size = entries.size();
  for (std::size_t i = 0; i < entries.size(); ++i)
    live.key[i] = entries[i].refs > 0 ? &entries[i].key : nullptr;
  return live;
}

// A plan applies only to the table it was made on: created entries still free, shared entries
// still holding the same key.
bool plan_still_valid(const LiveKeys& live, const SlotTable::Plan& plan, std::span<const SlotKey> keys) {
  if (plan.slot_of_key.size() != keys.size()) return false;
  auto created = [&](int slot) {
    return std::find(plan.created.begin(), plan.created.end(), slot) != plan.created.end();
  };
  auto in_range = [&](int slot) { return slot >= 0 && static_cast<std::size_t>(slot) < live.size; };
  for (int slot : plan.created)
    if (!in_range(slot) || live.key[slot]) return false;
  for (std::size_t k = 0; k < keys.size(); ++k) {
    const int slot = plan.slot_of_key[k];
    if (!in_range(slot)) return false;
    if (!created(slot) && (!live.key[slot] || !(*live.key[slot] == keys[k]))) return false;
  }
  return true;
}

}  // namespace

SlotTable::SlotTable(const ArchInfo& arch, std::size_t capacity,
                     std::vector<unsigned> slots_per_thread)
    : arch_(arch) {
  // One ActiveIndicator bit per entry.
  if (capacity > kMaxEntries) throw std::invalid_argument("SlotTable capacity above 64");
  if (slots_per_thread.size() != arch_.pool_count())
    throw std::invalid_argument("SlotTable needs one slots_per_thread value per pool");
  for (unsigned n : slots_per_thread) slots_per_thread_.push_back(n);
  for (std::size_t i = 0; i < capacity; ++i) entries_.push_back(Entry{});
}

SlotTable::PlanResult SlotTable::plan(std::span<const SlotKey> keys) const {
  const LiveKeys live = live_keys(entries_);
  PlanResult result;
  Plan p;
  if (!map_keys(live, keys, p)) {
    result.error = PlanError::table_full;
    return result;
  }
  const LoadItems items = load_items(arch_, live, keys, p);
  for (unsigned pool = 0; pool < arch_.pool_count(); ++pool) {
    const unsigned needed = peak_load(items.view(), pool);
    if (needed > slots_per_thread_[pool]) {
      result.error = PlanError::thread_slots;
      result.pool = pool;
      result.needed = needed;
      result.available = slots_per_thread_[pool];
      return result;
    }
  }
  result.plan = std::move(p);
  return result;
}

void SlotTable::commit(const Plan& plan, std::span<const SlotKey> keys) {
  // Checked before anything changes, so a stale plan cannot half-apply.
  if (!plan_still_valid(live_keys(entries_), plan, keys))
    throw std::invalid_argument("SlotTable::commit: the plan is stale or does not match the keys");
  for (std::size_t k = 0; k < keys.size(); ++k) {
    Entry& e = entries_[plan.slot_of_key[k]];
    if (e.refs == 0) e.key = keys[k];
    ++e.refs;
  }
}

SlotList SlotTable::release(std::span<const int> slots) {
  // Release runs on cleanup paths; an unknown or already free slot is ignored rather than thrown.
  // Each entry is freed once, so `freed` never holds more than the table's entries.
  SlotList freed;
  for (int slot : slots) {
    if (!in_use(slot)) continue;
    Entry& e = entries_[slot];
    if (--e.refs == 0) {
      e.key = SlotKey{};
      freed.push_back(slot);
    }
  }
  return freed;
}

bool SlotTable::in_use(int slot) const noexcept {
  return slot >= 0 && static_cast<std::size_t>(slot) < entries_.size() && entries_[slot].refs > 0;
}

const SlotKey& SlotTable::key(int slot) const { return entries_.at(slot).key; }

unsigned SlotTable::refcount(int slot) const noexcept {
  return in_use(slot) ? entries_[slot].refs : 0;
}

std::size_t SlotTable::used() const noexcept {
  return std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) { return e.refs > 0; });
}

unsigned SlotTable::thread_load(std::uint64_t tid, unsigned pool) const noexcept {
  unsigned load = 0;
  for (const auto& e : entries_) {
    if (e.refs == 0 || arch_.pool_of(slot_class_of(e.key.chunk.type)) != pool) continue;
    load += (e.key.target == kProcessTarget || e.key.target == tid);
  }
  return load;
}

}  // namespace hwbp::core
