// The slot accountant's private state (slot_accountant.cpp), in a header of its own so that the
// tests' consistency audit (tests/support/slot_accountant_audit.hpp) can recompute every
// histogram from it. Not part of the API.
#pragma once

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/slot_accountant.hpp"

namespace hwbp::core {

inline constexpr unsigned kAccountantShards = 64;  // per-task mutexes, sharded by task id

// A task's load in one pool, aggregated so task_bp_pinned() is O(1) / O(log k) instead of a walk
// of the task's chain: `all` = weight of its cpu == -1 breakpoints, `specific` = weight per CPU
// of its CPU-specific ones (sorted by CPU, no zero entries).
struct SlotAccountant::TaskPool {
  unsigned all = 0;
  std::vector<std::pair<int, unsigned>> specific;

  // task_bp_pinned(-1): -1 when some breakpoint is CPU-specific, else the all-CPU load.
  bool cpu_independent() const noexcept { return specific.empty(); }
  unsigned spec(int cpu) const noexcept {
    auto it = std::lower_bound(specific.begin(), specific.end(), std::make_pair(cpu, 0u));
    return (it != specific.end() && it->first == cpu) ? it->second : 0;
  }
  // task_bp_pinned(cpu): breakpoints on -1 or on that CPU.
  unsigned on(int cpu) const noexcept { return all + spec(cpu); }
  void add(int cpu, unsigned w) {
    if (cpu < 0) {
      all += w;
      return;
    }
    auto it = std::lower_bound(specific.begin(), specific.end(), std::make_pair(cpu, 0u));
    if (it != specific.end() && it->first == cpu)
      it->second += w;
    else
      specific.insert(it, {cpu, w});
  }
  void remove(int cpu, unsigned w) noexcept {
    if (cpu < 0) {
      all -= w;
      return;
    }
    auto it = std::lower_bound(specific.begin(), specific.end(), std::make_pair(cpu, 0u));
    if (it == specific.end() || it->first != cpu) return;  // not reachable: the bp is known
    it->second -= w;
    if (it->second == 0) specific.erase(it);
  }
};

struct SlotAccountant::TaskBp {
  std::uint64_t id;
  int cpu;
  BpType type;
  unsigned weight;
};

struct SlotAccountant::TaskState {
  TaskPool pools[2];
  std::vector<TaskBp> bps;  // the task's chain (for handles and audit)
};

struct alignas(64) SlotAccountant::Shard {
  std::mutex mu;  // the per-task mutex (task->perf_event_mutex in the kernel), sharded
  std::unordered_map<std::uint64_t, TaskState> tasks;
  std::uint64_t next_id = 0;
};

}  // namespace hwbp::core
