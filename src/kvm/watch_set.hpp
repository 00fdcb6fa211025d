// The guest debugger's watches by id: a vector kept sorted by id instead of a std::map. A
// debugger holds a handful of watches (four debug registers, a few write traps); a map allocates
// a node for every add and frees it on every remove, while the vector keeps its capacity, so
// adding and removing watches allocates nothing once it has grown. Ids only grow
// (GuestDebugger hands them out in order), so adding appends; a watch put back after a failed
// change is inserted in its place.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "kvm/watch.hpp"

namespace hwbp::kvm {

class WatchSet {
 public:
  Watch* find(WatchId id) noexcept {
    auto it = lower(id);
    return it != items_.end() && it->id == id ? &*it : nullptr;
  }
  const Watch* find(WatchId id) const noexcept { return const_cast<WatchSet*>(this)->find(id); }
  bool contains(WatchId id) const noexcept { return find(id) != nullptr; }
  Watch& at(WatchId id) {
    if (Watch* w = find(id)) return *w;
    throw std::out_of_range("WatchSet::at: no such watch");
  }

  // Precondition: no watch with w.id in the set.
  void insert(Watch&& w) {
    if (items_.empty() || items_.back().id < w.id)
      items_.push_back(std::move(w));
    else
      items_.insert(lower(w.id), std::move(w));
  }
  // Appends a default watch for the caller to fill. Precondition: its id will be greater than
  // every id in the set (ids only grow). Reserve first to keep references to earlier ones valid.
  Watch& emplace_back() { return items_.emplace_back(); }
  void reserve(std::size_t n) { items_.reserve(n); }
  // Drops the watches from index `size` on (the ones a failed change appended).
  void truncate(std::size_t size) { items_.resize(std::min(size, items_.size())); }
  // Drops the watch (false when there is none); the vector keeps its capacity.
  bool erase(WatchId id) {
    auto it = lower(id);
    if (it == items_.end() || it->id != id) return false;
    items_.erase(it);
    return true;
  }
  // Drops every watch `pred` selects, in one pass.
  template <typename Pred>
  void erase_if(Pred pred) {
    std::erase_if(items_, pred);
  }
  void clear() noexcept { items_.clear(); }

  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  auto begin() noexcept { return items_.begin(); }
  auto end() noexcept { return items_.end(); }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }

 private:
  std::vector<Watch>::iterator lower(WatchId id) {
    return std::lower_bound(items_.begin(), items_.end(), id,
                            [](const Watch& w, WatchId key) { return w.id < key; });
  }
  std::vector<Watch> items_;
};

}  // namespace hwbp::kvm
