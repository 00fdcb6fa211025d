// The slot accountant; see slot_accountant.hpp for the rule. Function names in comments refer to
// kernel/events/hw_breakpoint.c (Linux 6.1+), whose structure this mirrors:
//  - per-CPU cpu_pinned counts and tsk_pinned histograms (struct bp_cpuinfo),
//  - a global histogram of cpu_pinned over CPUs (cpu_pinned[TYPE_MAX]),
//  - a global histogram of tasks whose breakpoints of a class are all cpu == -1
//    (tsk_pinned_all[TYPE_MAX]),
//  - per-task state in a hash table (task_bps_ht).
// Invariant (one representation): a (task, pool) with load is counted either once in
// tsk_pinned_all (all its breakpoints are cpu == -1) or in every CPU's tsk_pinned (at least one
// is CPU-specific), never both. Hence the largest task load on CPU c is the top non-empty bucket
// of tsk_pinned[c] + tsk_pinned_all (max_task_bp_pinned()).
#include "core/slot_accountant.hpp"
#include "core/slot_accountant_state.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string>

namespace hwbp::core {

namespace {

constexpr unsigned kCacheInts = 64 / sizeof(std::atomic<int>);

std::uint64_t mix(std::uint64_t x) noexcept {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

const char* to_string(Admit a) noexcept {
  switch (a) {
    case Admit::ok: return "ok";
    case Admit::no_space: return "no_space";
    case Admit::invalid_type: return "invalid_type";
    case Admit::not_supported: return "not_supported";
    case Admit::invalid_argument: return "invalid_argument";
  }
  return "?";
}

int to_errno(Admit a) noexcept {
  switch (a) {
    case Admit::ok: return 0;
    case Admit::no_space: return ENOSPC;
    case Admit::invalid_type: return EINVAL;
    case Admit::not_supported: return EOPNOTSUPP;
    case Admit::invalid_argument: return EINVAL;
  }
  return EINVAL;
}

SlotAccountant::SlotAccountant(const ArchInfo& arch, unsigned ncpus)
    : arch_(arch), ncpus_(ncpus == 0 ? 1 : ncpus), npools_(arch.pool_count()) {
  if (arch_.mixed_pool) {
    pool_slots_[0] = arch_.data_slots;
  } else {
    pool_slots_[0] = arch_.inst_slots;
    pool_slots_[1] = arch_.data_slots;
  }
  const unsigned per_cpu = pool_slots_[0] + pool_slots_[1];
  hist_stride_ = std::max(kCacheInts, (per_cpu + kCacheInts - 1) / kCacheInts * kCacheInts);
  // Value-initialised: every bucket and count starts at zero.
  tsk_pinned_ = std::make_unique<std::atomic<int>[]>(std::size_t{ncpus_} * hist_stride_);
  cpu_pinned_ = std::make_unique<unsigned[]>(std::size_t{ncpus_} * 2);
  cpu_pinned_hist_ = std::make_unique<std::atomic<int>[]>(per_cpu + 1);
  tsk_pinned_all_hist_ = std::make_unique<std::atomic<int>[]>(per_cpu + 1);
  shards_ = std::make_unique<Shard[]>(kAccountantShards);
}

SlotAccountant::~SlotAccountant() = default;

SlotAccountant::Shard& SlotAccountant::shard_of(std::uint64_t task) const noexcept {
  return shards_[mix(task) % kAccountantShards];
}

std::atomic<int>* SlotAccountant::tsk_hist(unsigned cpu, unsigned pool) const noexcept {
  return &tsk_pinned_[std::size_t{cpu} * hist_stride_ + (pool ? pool_slots_[0] : 0)];
}

unsigned& SlotAccountant::cpu_pinned(unsigned cpu, unsigned pool) const noexcept {
  return cpu_pinned_[std::size_t{cpu} * 2 + pool];
}

// bp_slots_histogram_add(): move one owner from bucket old-1 to bucket old-1+val.
void SlotAccountant::hist_add(std::atomic<int>* h, int old, int val) const noexcept {
  const int old_idx = old - 1;
  const int new_idx = old_idx + val;
  // Indices stay below S because admission keeps every load <= S (the tests' audit checks it).
  if (old_idx >= 0) h[old_idx].fetch_sub(1, std::memory_order_relaxed);
  if (new_idx >= 0) h[new_idx].fetch_add(1, std::memory_order_relaxed);
}

// bp_slots_histogram_max(): highest non-empty bucket + 1, O(S).
int SlotAccountant::hist_max(const std::atomic<int>* h, unsigned pool) const noexcept {
  for (int i = static_cast<int>(pool_slots(pool)) - 1; i >= 0; --i)
    if (h[i].load(std::memory_order_relaxed) > 0) return i + 1;
  return 0;
}

// bp_slots_histogram_max_merge().
int SlotAccountant::hist_max_merge(const std::atomic<int>* h1, const std::atomic<int>* h2,
                                   unsigned pool) const noexcept {
  for (int i = static_cast<int>(pool_slots(pool)) - 1; i >= 0; --i)
    if (h1[i].load(std::memory_order_relaxed) + h2[i].load(std::memory_order_relaxed) > 0)
      return i + 1;
  return 0;
}

// Checks perf core and hw_breakpoint_event_init() make before __reserve_bp_slot's admission.
Admit SlotAccountant::precheck(const Breakpoint& bp) const noexcept {
  if (bp.weight == 0) return Admit::invalid_argument;
  const int n = static_cast<int>(ncpus_);
  if (bp.task == kNoTask) {
    if (bp.cpu < 0 || bp.cpu >= n) return Admit::invalid_argument;  // pid -1, cpu -1: EINVAL
  } else if (bp.cpu < kAllCpus || bp.cpu >= n) {
    return Admit::invalid_argument;
  }
  // hw_breakpoint_event_init(): -EOPNOTSUPP when the class has no slots, before the type check.
  if (arch_.slots(slot_class_of_raw(bp.type)) == 0) return Admit::not_supported;
  return type_check(bp.type, pool_of(bp.type));
}

// __reserve_bp_slot()'s basic checks.
Admit SlotAccountant::type_check(BpType type, unsigned) const noexcept {
  if (type == 0 || type == 7) return Admit::invalid_type;  // HW_BREAKPOINT_EMPTY / _INVALID
  return Admit::ok;
}

// max_bp_pinned_slots() for a CPU-bound breakpoint: cpu_pinned[c] + max_task_bp_pinned(c).
// Needs the exclusive lock: tsk_pinned must not change under the max-merge.
unsigned SlotAccountant::need_cpu_bound(int cpu, unsigned pool) const noexcept {
  const unsigned c = static_cast<unsigned>(cpu);
  return cpu_pinned(c, pool) +
         static_cast<unsigned>(hist_max_merge(tsk_hist(c, pool), &tsk_pinned_all_hist_[pool ? pool_slots_[0] : 0], pool));
}

// max_bp_pinned_slots() for a task-bound breakpoint (shared lock + the task's mutex held).
unsigned SlotAccountant::need_task(const TaskState* ts, int cpu, unsigned pool) const noexcept {
  const TaskPool* tp = ts ? &ts->pools[pool] : nullptr;
  if (cpu >= 0) return cpu_pinned(static_cast<unsigned>(cpu), pool) + (tp ? tp->on(cpu) : 0);
  if (!tp || tp->cpu_independent()) {
    // Fast path (9b1933b864a1): the task's load is the same on every CPU, so the maximum is the
    // task's load plus the largest cpu_pinned — the top bucket of the global histogram. O(S).
    return (tp ? tp->all : 0) +
           static_cast<unsigned>(hist_max(&cpu_pinned_hist_[pool ? pool_slots_[0] : 0], pool));
  }
  // Slow path: a task with CPU-specific breakpoints, every possible CPU. O(#CPUs).
  unsigned best = 0;
  auto it = tp->specific.begin();
  for (unsigned c = 0; c < ncpus_; ++c) {
    unsigned load = tp->all;
    if (it != tp->specific.end() && it->first == static_cast<int>(c)) load += (it++)->second;
    best = std::max(best, cpu_pinned(c, pool) + load);
  }
  return best;
}

Admit SlotAccountant::admit_task(const TaskState* ts, const Breakpoint& bp) const noexcept {
  const unsigned pool = pool_of(bp.type);
  return need_task(ts, bp.cpu, pool) + bp.weight > pool_slots(pool) ? Admit::no_space : Admit::ok;
}

Admit SlotAccountant::admit_cpu(const Breakpoint& bp) const noexcept {
  const unsigned pool = pool_of(bp.type);
  return need_cpu_bound(bp.cpu, pool) + bp.weight > pool_slots(pool) ? Admit::no_space : Admit::ok;
}

// toggle_bp_slot() for a CPU-bound breakpoint: the global histogram, then the per-CPU count.
void SlotAccountant::toggle_cpu(int cpu, unsigned pool, unsigned w, bool enable) noexcept {
  unsigned& pinned = cpu_pinned(static_cast<unsigned>(cpu), pool);
  const int weight = enable ? static_cast<int>(w) : -static_cast<int>(w);
  hist_add(&cpu_pinned_hist_[pool ? pool_slots_[0] : 0], static_cast<int>(pinned), weight);
  pinned = enable ? pinned + w : pinned - w;
}

// toggle_bp_slot() for a task-bound breakpoint. Only atomic histogram updates: runs under the
// shared lock, concurrently with other tasks. On disable the breakpoint leaves the task's state
// first (rhltable_remove before the update), on enable it joins last (rhltable_insert).
void SlotAccountant::toggle_task(TaskState& ts, int cpu, unsigned pool, unsigned w,
                                 bool enable) noexcept {
  TaskPool& tp = ts.pools[pool];
  const int iw = static_cast<int>(w);
  const int weight = enable ? iw : -iw;
  if (!enable) tp.remove(cpu, w);
  std::atomic<int>* all_hist = &tsk_pinned_all_hist_[pool ? pool_slots_[0] : 0];

  if (tp.cpu_independent()) {
    const int next = static_cast<int>(tp.all);  // task_bp_pinned(-1) >= 0
    if (cpu < 0) {
      // Case 1: all-CPU breakpoint of an all-CPU task: the global histogram only. O(1).
      hist_add(all_hist, enable ? next : next + iw, weight);
    } else if (enable) {
      // Case 2a: first CPU-specific breakpoint: the task's load moves from tsk_pinned_all into
      // every possible CPU's tsk_pinned, plus this breakpoint on its CPU. O(#CPUs).
      for (unsigned c = 0; c < ncpus_; ++c) hist_add(tsk_hist(c, pool), 0, next);
      hist_add(tsk_hist(static_cast<unsigned>(cpu), pool), next, weight);
      hist_add(all_hist, next, -next);
    } else {
      // Case 2b: last CPU-specific breakpoint gone: the reverse. O(#CPUs).
      hist_add(tsk_hist(static_cast<unsigned>(cpu), pool), next + iw, weight);
      for (unsigned c = 0; c < ncpus_; ++c) hist_add(tsk_hist(c, pool), next, -next);
      hist_add(all_hist, 0, next);
    }
  } else if (cpu >= 0) {
    // Case 3, CPU-specific breakpoint of a mixed task: that CPU's histogram only.
    const int cur = static_cast<int>(tp.on(cpu));
    hist_add(tsk_hist(static_cast<unsigned>(cpu), pool), enable ? cur : cur + iw, weight);
  } else {
    // Case 3, all-CPU breakpoint of a mixed task: every possible CPU. O(#CPUs).
    auto it = tp.specific.begin();
    for (unsigned c = 0; c < ncpus_; ++c) {
      int cur = static_cast<int>(tp.all);
      if (it != tp.specific.end() && it->first == static_cast<int>(c))
        cur += static_cast<int>((it++)->second);
      hist_add(tsk_hist(c, pool), enable ? cur : cur + iw, weight);
    }
  }
  if (enable) tp.add(cpu, w);
}

SlotAccountant::Reservation SlotAccountant::reserve(const Breakpoint& bp) {
  if (Admit a = precheck(bp); a != Admit::ok) return {a, {}};
  const unsigned pool = pool_of(bp.type);

  if (bp.task == kNoTask) {
    // bp_constraints_lock() for a CPU target: the write lock, excludes everything.
    std::unique_lock wl(constraints_);
    if (Admit a = admit_cpu(bp); a != Admit::ok) return {a, {}};
    const std::uint64_t id = ++next_cpu_id_;
    cpu_bps_.emplace(id, CpuBp{bp.cpu, bp.type, bp.weight});  // may throw: before any change
    toggle_cpu(bp.cpu, pool, bp.weight, true);
    return {Admit::ok, {kNoTask, id}};
  }

  // bp_constraints_lock() for a task target: the task's mutex, then the read lock.
  Shard& sh = shard_of(bp.task);
  std::lock_guard tl(sh.mu);
  auto it = sh.tasks.find(bp.task);
  TaskState* ts = it == sh.tasks.end() ? nullptr : &it->second;
  std::shared_lock rl(constraints_);
  if (Admit a = admit_task(ts, bp); a != Admit::ok) return {a, {}};
  // Allocate before touching histograms so an allocation failure changes nothing.
  if (!ts) ts = &sh.tasks[bp.task];
  ts->bps.reserve(ts->bps.size() + 1);
  if (bp.cpu >= 0) ts->pools[pool].specific.reserve(ts->pools[pool].specific.size() + 1);
  const std::uint64_t id = ++sh.next_id;
  toggle_task(*ts, bp.cpu, pool, bp.weight, true);
  ts->bps.push_back({id, bp.cpu, bp.type, bp.weight});
  return {Admit::ok, {bp.task, id}};
}

bool SlotAccountant::release(Handle h) {
  if (!h) return false;
  if (h.task == kNoTask) {
    std::unique_lock wl(constraints_);
    auto it = cpu_bps_.find(h.id);
    if (it == cpu_bps_.end()) return false;
    toggle_cpu(it->second.cpu, pool_of(it->second.type), it->second.weight, false);
    cpu_bps_.erase(it);
    return true;
  }
  Shard& sh = shard_of(h.task);
  std::lock_guard tl(sh.mu);
  auto it = sh.tasks.find(h.task);
  if (it == sh.tasks.end()) return false;
  TaskState& ts = it->second;
  auto bp = std::find_if(ts.bps.begin(), ts.bps.end(), [&](const TaskBp& b) { return b.id == h.id; });
  if (bp == ts.bps.end()) return false;
  {
    std::shared_lock rl(constraints_);
    toggle_task(ts, bp->cpu, pool_of(bp->type), bp->weight, false);
  }
  ts.bps.erase(bp);
  if (ts.bps.empty()) sh.tasks.erase(it);  // automatic_shrinking: no state for idle tasks
  return true;
}

// modify_bp_slot() / __modify_bp_slot(): release the old type, reserve the new one, and on
// failure reserve the old one back (cannot fail: its slot was just freed). The EOPNOTSUPP check
// lives in event creation, not here, so a class with no slots yields no_space, as in the kernel.
Admit SlotAccountant::modify(Handle h, BpType new_type) {
  if (!h) return Admit::invalid_argument;
  if (h.task == kNoTask) {
    std::unique_lock wl(constraints_);
    auto it = cpu_bps_.find(h.id);
    if (it == cpu_bps_.end()) return Admit::invalid_argument;
    CpuBp& b = it->second;
    if (b.type == new_type) return Admit::ok;
    toggle_cpu(b.cpu, pool_of(b.type), b.weight, false);
    Admit a = type_check(new_type, pool_of(new_type));
    if (a == Admit::ok) a = admit_cpu(Breakpoint{kNoTask, b.cpu, new_type, b.weight});
    if (a == Admit::ok) {
      toggle_cpu(b.cpu, pool_of(new_type), b.weight, true);
      b.type = new_type;
    } else {
      toggle_cpu(b.cpu, pool_of(b.type), b.weight, true);  // restore
    }
    return a;
  }
  Shard& sh = shard_of(h.task);
  std::lock_guard tl(sh.mu);
  auto it = sh.tasks.find(h.task);
  if (it == sh.tasks.end()) return Admit::invalid_argument;
  TaskState& ts = it->second;
  auto bp = std::find_if(ts.bps.begin(), ts.bps.end(), [&](const TaskBp& b) { return b.id == h.id; });
  if (bp == ts.bps.end()) return Admit::invalid_argument;
  if (bp->type == new_type) return Admit::ok;
  const unsigned new_pool = pool_of(new_type);
  if (bp->cpu >= 0) ts.pools[new_pool].specific.reserve(ts.pools[new_pool].specific.size() + 1);
  std::shared_lock rl(constraints_);
  toggle_task(ts, bp->cpu, pool_of(bp->type), bp->weight, false);
  Admit a = type_check(new_type, new_pool);
  if (a == Admit::ok) a = admit_task(&ts, Breakpoint{h.task, bp->cpu, new_type, bp->weight});
  if (a == Admit::ok) {
    toggle_task(ts, bp->cpu, new_pool, bp->weight, true);
    bp->type = new_type;
  } else {
    toggle_task(ts, bp->cpu, pool_of(bp->type), bp->weight, true);  // restore
  }
  return a;
}

Admit SlotAccountant::fits(const Breakpoint& bp) const {
  if (Admit a = precheck(bp); a != Admit::ok) return a;
  if (bp.task == kNoTask) {
    std::unique_lock wl(constraints_);  // a stable snapshot of every tsk_pinned
    return admit_cpu(bp);
  }
  Shard& sh = shard_of(bp.task);
  std::lock_guard tl(sh.mu);
  auto it = sh.tasks.find(bp.task);
  std::shared_lock rl(constraints_);
  return admit_task(it == sh.tasks.end() ? nullptr : &it->second, bp);
}

Usage SlotAccountant::usage(const Breakpoint& bp) const {
  Usage u;
  u.slots = arch_.slots(slot_class_of_raw(bp.type));
  u.cpu = bp.cpu;
  const int n = static_cast<int>(ncpus_);
  if (bp.cpu < kAllCpus || bp.cpu >= n || (bp.task == kNoTask && bp.cpu < 0) || u.slots == 0)
    return u;
  const unsigned pool = pool_of(bp.type);
  if (bp.task == kNoTask) {
    std::unique_lock wl(constraints_);
    const unsigned c = static_cast<unsigned>(bp.cpu);
    u.cpu_pinned = cpu_pinned(c, pool);
    u.task_load = need_cpu_bound(bp.cpu, pool) - u.cpu_pinned;
    return u;
  }
  Shard& sh = shard_of(bp.task);
  std::lock_guard tl(sh.mu);
  auto it = sh.tasks.find(bp.task);
  const TaskPool* tp = it == sh.tasks.end() ? nullptr : &it->second.pools[pool];
  std::shared_lock rl(constraints_);
  auto load = [&](int c) { return tp ? tp->on(c) : 0u; };
  if (bp.cpu >= 0) {
    u.cpu_pinned = cpu_pinned(static_cast<unsigned>(bp.cpu), pool);
    u.task_load = load(bp.cpu);
    return u;
  }
  // Diagnostic path: name the deciding CPU, so O(#CPUs) even for an all-CPU task.
  u.cpu = 0;
  u.cpu_pinned = cpu_pinned(0, pool);
  u.task_load = load(0);
  for (int c = 1; c < n; ++c) {
    const unsigned cp = cpu_pinned(static_cast<unsigned>(c), pool);
    const unsigned tl2 = load(c);
    if (cp + tl2 > u.need()) {
      u.cpu = c;
      u.cpu_pinned = cp;
      u.task_load = tl2;
    }
  }
  return u;
}

}  // namespace hwbp::core
