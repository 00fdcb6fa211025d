// A deliberately naive statement of the kernel's breakpoint admission rule, in the style of the
// pre-6.1 kernel (one global list of breakpoints, every check scans it for every CPU):
// O(#CPUs x #breakpoints) per operation, not thread-safe. Lives only in tests and benchmarks,
// as the oracle the optimised core::SlotAccountant is compared against.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <vector>

#include "core/slot_accountant.hpp"

namespace hwbp::test {

class AccountantOracle {
 public:
  using Admit = core::Admit;
  using Breakpoint = core::Breakpoint;

  AccountantOracle(const core::ArchInfo& arch, unsigned ncpus) : arch_(arch), ncpus_(ncpus ? ncpus : 1) {}

  struct Reservation {
    Admit result = Admit::invalid_argument;
    std::uint64_t id = 0;
  };

  // Error order: malformed target, class without slots (EOPNOTSUPP), EMPTY/INVALID type
  // (EINVAL), then the admission rule (ENOSPC).
  Reservation reserve(const Breakpoint& bp) {
    Admit a = fits(bp);
    if (a != Admit::ok) return {a, 0};
    bps_.push_back({++next_id_, bp});
    return {Admit::ok, next_id_};
  }

  // Appends without any check (to build large states quickly in benchmarks).
  std::uint64_t adopt(const Breakpoint& bp) {
    bps_.push_back({++next_id_, bp});
    return next_id_;
  }

  bool release(std::uint64_t id) {
    auto it = find(id);
    if (it == bps_.end()) return false;
    bps_.erase(it);
    return true;
  }

  // Release, re-admit with the new type, restore the old one on failure.
  Admit modify(std::uint64_t id, core::BpType new_type) {
    auto it = find(id);
    if (it == bps_.end()) return Admit::invalid_argument;
    if (it->bp.type == new_type) return Admit::ok;
    Entry saved = *it;
    bps_.erase(it);
    Breakpoint nb = saved.bp;
    nb.type = new_type;
    Admit a = (new_type == 0 || new_type == 7) ? Admit::invalid_type : admission(nb);
    if (a == Admit::ok) saved.bp.type = new_type;
    bps_.push_back(saved);  // order is irrelevant to the rule
    return a;
  }

  Admit fits(const Breakpoint& bp) const {
    const int n = static_cast<int>(ncpus_);
    if (bp.weight == 0) return Admit::invalid_argument;
    if (bp.task == core::kNoTask ? (bp.cpu < 0 || bp.cpu >= n) : (bp.cpu < -1 || bp.cpu >= n))
      return Admit::invalid_argument;
    if (arch_.slots(core::slot_class_of_raw(bp.type)) == 0) return Admit::not_supported;
    if (bp.type == 0 || bp.type == 7) return Admit::invalid_type;
    return admission(bp);
  }

  // Same definition as SlotAccountant::usage().
  core::Usage usage(const Breakpoint& bp) const {
    core::Usage u;
    u.slots = arch_.slots(core::slot_class_of_raw(bp.type));
    u.cpu = bp.cpu;
    const int n = static_cast<int>(ncpus_);
    if (bp.cpu < -1 || bp.cpu >= n || (bp.task == core::kNoTask && bp.cpu < 0) || u.slots == 0) return u;
    const unsigned pool = pool_of(bp.type);
    if (bp.task == core::kNoTask) {
      u.cpu_pinned = cpu_pinned(bp.cpu, pool);
      u.task_load = max_task_on(bp.cpu, pool);
      return u;
    }
    if (bp.cpu >= 0) {
      u.cpu_pinned = cpu_pinned(bp.cpu, pool);
      u.task_load = task_on(bp.task, bp.cpu, pool);
      return u;
    }
    bool first = true;
    for (int c = 0; c < n; ++c) {
      const unsigned cp = cpu_pinned(c, pool), tl = task_on(bp.task, c, pool);
      if (first || cp + tl > u.need()) {
        u.cpu = c;
        u.cpu_pinned = cp;
        u.task_load = tl;
        first = false;
      }
    }
    return u;
  }

  bool is_used() const { return !bps_.empty(); }
  std::size_t size() const { return bps_.size(); }

 private:
  struct Entry {
    std::uint64_t id;
    Breakpoint bp;
  };

  std::vector<Entry>::iterator find(std::uint64_t id) {
    return std::find_if(bps_.begin(), bps_.end(), [&](const Entry& e) { return e.id == id; });
  }
  unsigned pool_of(core::BpType t) const { return arch_.pool_of(core::slot_class_of_raw(t)); }
  unsigned pool_slots(unsigned pool) const {
    return arch_.mixed_pool ? arch_.data_slots : (pool == 0 ? arch_.inst_slots : arch_.data_slots);
  }

  // Weight of CPU-bound breakpoints of the pool on CPU c.
  unsigned cpu_pinned(int c, unsigned pool) const {
    unsigned sum = 0;
    for (const Entry& e : bps_)
      if (e.bp.task == core::kNoTask && e.bp.cpu == c && pool_of(e.bp.type) == pool) sum += e.bp.weight;
    return sum;
  }
  // Weight of task t's breakpoints of the pool that may be on CPU c.
  unsigned task_on(std::uint64_t t, int c, unsigned pool) const {
    unsigned sum = 0;
    for (const Entry& e : bps_)
      if (e.bp.task == t && (e.bp.cpu == -1 || e.bp.cpu == c) && pool_of(e.bp.type) == pool) sum += e.bp.weight;
    return sum;
  }
  // Largest task_on(t, c) over all tasks.
  unsigned max_task_on(int c, unsigned pool) const {
    std::map<std::uint64_t, unsigned> per_task;
    for (const Entry& e : bps_)
      if (e.bp.task != core::kNoTask && (e.bp.cpu == -1 || e.bp.cpu == c) && pool_of(e.bp.type) == pool)
        per_task[e.bp.task] += e.bp.weight;
    unsigned best = 0;
    for (const auto& [t, w] : per_task) best = std::max(best, w);
    return best;
  }

  // The rule as core/slot_accountant.hpp states it, literally.
  Admit admission(const Breakpoint& bp) const {
    const unsigned pool = pool_of(bp.type);
    unsigned need = 0;
    if (bp.task == core::kNoTask) {
      need = cpu_pinned(bp.cpu, pool) + max_task_on(bp.cpu, pool);
    } else if (bp.cpu >= 0) {
      need = cpu_pinned(bp.cpu, pool) + task_on(bp.task, bp.cpu, pool);
    } else {
      for (int c = 0; c < static_cast<int>(ncpus_); ++c)
        need = std::max(need, cpu_pinned(c, pool) + task_on(bp.task, c, pool));
    }
    return need + bp.weight > pool_slots(pool) ? Admit::no_space : Admit::ok;
  }

  core::ArchInfo arch_;
  unsigned ncpus_;
  std::vector<Entry> bps_;
  std::uint64_t next_id_ = 0;
};

}  // namespace hwbp::test
