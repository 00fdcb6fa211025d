// The slot accountant: the kernel's debug-register admission rule (kernel/events/hw_breakpoint.c,
// Linux 6.1+) as a pure, thread-safe model. It answers "would the kernel admit this breakpoint
// event?" before hwbp arms anything, explains an ENOSPC, and plans CPU-wide watches.
//
// The rule (kernel/events/hw_breakpoint.c: __reserve_bp_slot, max_bp_pinned_slots). For a
// breakpoint b of slot class T and weight w, with S = slots of T's pool, b is admitted iff
// need(b) + w <= S, where
//   CPU-bound on c:      need = cpu_pinned[c] + max over tasks t of task_on(t, c)
//   task t on CPU c:     need = cpu_pinned[c] + task_on(t, c)
//   task t on all CPUs:  need = max over possible CPUs c of (cpu_pinned[c] + task_on(t, c))
// cpu_pinned[c] = weight of CPU-bound breakpoints on c, task_on(t, c) = weight of t's
// breakpoints with cpu == -1 or cpu == c. Tasks never constrain each other.
//
// Cost (the kernel's slot histograms, not scans): reserve/release/fits are O(S) for CPU-bound
// breakpoints and for a task whose breakpoints of that class are all cpu == -1; O(S + the task's
// own breakpoints) for a task breakpoint on one CPU; O(#CPUs) only where the kernel is O(#CPUs)
// too (a task moving between the all-CPU and the CPU-specific form, or a cpu == -1 breakpoint of
// a task that also has CPU-specific ones). Nothing is ever proportional to the number of tasks.
//
// Concurrency (kernel commit 0912037fec11): task operations take a per-task mutex (sharded by
// task id) and the constraints lock shared; CPU-bound operations take the constraints lock
// exclusively. Histogram buckets are atomics, so concurrent task operations lose no update.
// hwbp's own callers serialise today (the library's Admission under the registry mutex; `hwbp
// plan` is single-threaded), so these locks are never contended there and cost two uncontended
// lock pairs per call. They mirror the kernel's on purpose: this class is the executable model
// of the kernel's rule *including* its concurrency contract — the kernel admits breakpoints of
// different tasks in parallel, and a model that answers "would the kernel admit this?" for
// concurrent callers (the KVM module's vCPU threads, the kernel conformance tests that replay
// parallel opens) must give the same answers under the same interleavings. The concurrency test
// (tests/unit/slot_accountant_test.cpp, AccountantConcurrency) checks exactly that.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/arch.hpp"

namespace hwbp::core {

// Raw generic bp_type bits (HW_BREAKPOINT_R 1, W 2, RW 3, X 4; EMPTY 0 and INVALID 7 are
// rejected). Kept raw so that the kernel's error order for invalid types is expressible.
using BpType = std::uint8_t;
constexpr BpType bp_type(HwType t) noexcept { return static_cast<BpType>(t); }
// The kernel's find_slot_idx(): any R/W bit makes it a data breakpoint, else instruction.
constexpr SlotClass slot_class_of_raw(BpType t) noexcept {
  return (t & 3u) ? SlotClass::data : SlotClass::inst;
}

// Task id 0 means "no task": a CPU-bound breakpoint (perf_event_open pid == -1).
inline constexpr std::uint64_t kNoTask = 0;
// cpu == kAllCpus: a task-bound breakpoint that follows its task on every CPU.
inline constexpr int kAllCpus = -1;

// One breakpoint event as the accounting sees it.
struct Breakpoint {
  std::uint64_t task = kNoTask;  // kNoTask: CPU-bound (then cpu must name a CPU)
  int cpu = kAllCpus;            // kAllCpus (task-bound only) or 0..ncpus-1
  BpType type = bp_type(HwType::write);
  unsigned weight = 1;           // hw_breakpoint_weight(): 1 on every supported arch
};

// Outcome of an admission, in the kernel's check order (first failing check wins):
//   invalid_argument  malformed target (CPU-bound without a CPU, CPU out of range, weight 0,
//                     unknown handle) — perf core rejects these before the breakpoint PMU
//   not_supported     -EOPNOTSUPP: the class of bp_type has 0 slots (hw_breakpoint_event_init,
//                     2025 "Check if breakpoint type is supported")
//   invalid_type      -EINVAL: bp_type is EMPTY (0) or INVALID (7) (__reserve_bp_slot)
//   no_space          -ENOSPC: the admission rule above
enum class Admit : std::uint8_t { ok, no_space, invalid_type, not_supported, invalid_argument };
const char* to_string(Admit a) noexcept;
// 0, ENOSPC, EINVAL, EOPNOTSUPP, EINVAL.
int to_errno(Admit a) noexcept;

// Explanation of need(b) for a breakpoint b (what the kernel's max_bp_pinned_slots() returns),
// split into its two components on the CPU that decides it.
struct Usage {
  unsigned slots = 0;       // S of b's pool
  int cpu = -1;             // the deciding CPU: b's CPU, or for cpu == -1 the lowest CPU where
                            // cpu_pinned + task load is largest
  unsigned cpu_pinned = 0;  // weight of CPU-bound breakpoints there
  unsigned task_load = 0;   // b's task: task_on(task, cpu); CPU-bound b: the largest task load
  unsigned need() const noexcept { return cpu_pinned + task_load; }
  unsigned free() const noexcept { return need() >= slots ? 0 : slots - need(); }
  friend bool operator==(const Usage&, const Usage&) = default;
};

class SlotAccountant {
 public:
  // Identifies one reserved breakpoint. A default-constructed handle is "none".
  struct Handle {
    std::uint64_t task = kNoTask;
    std::uint64_t id = 0;
    explicit operator bool() const noexcept { return id != 0; }
    friend bool operator==(const Handle&, const Handle&) = default;
  };
  struct Reservation {
    Admit result = Admit::invalid_argument;
    Handle handle;  // set only when result == ok
  };

  // ncpus: number of *possible* CPUs (the kernel checks cpu_possible_mask for cpu == -1).
  SlotAccountant(const ArchInfo& arch, unsigned ncpus);
  ~SlotAccountant();
  SlotAccountant(const SlotAccountant&) = delete;
  SlotAccountant& operator=(const SlotAccountant&) = delete;

  // __reserve_bp_slot(): admit and account, or change nothing.
  Reservation reserve(const Breakpoint& bp);
  // __release_bp_slot(). false (and no change) for an unknown or already released handle.
  bool release(Handle h);
  // modify_bp_slot(): change the type of a reserved breakpoint. A new type equal to the old one
  // is a no-op; otherwise the old reservation is released and the new one made; if that fails
  // the old one is restored and the error returned (the breakpoint keeps its old type).
  Admit modify(Handle h, BpType new_type);

  // Dry run of reserve().
  Admit fits(const Breakpoint& bp) const;
  // need(b) and its components, for explaining no_space: reserve(b) gives no_space exactly when
  // usage(b).need() + b.weight > usage(b).slots. Cost O(#CPUs) for cpu == -1 (diagnostic path).
  Usage usage(const Breakpoint& bp) const;


  const ArchInfo& arch() const noexcept { return arch_; }
  unsigned ncpus() const noexcept { return ncpus_; }
  unsigned slots(SlotClass c) const noexcept { return arch_.slots(c); }

 private:
  // The tests' consistency audit reads the histograms (tests/support/slot_accountant_audit.hpp).
  friend struct SlotAccountantAudit;
  // bp_slots_histogram: count[n] = owners (tasks or CPUs) using exactly n+1 slots.
  class Histogram;
  struct TaskPool;
  struct TaskBp;
  struct TaskState;
  struct Shard;
  struct CpuBp {
    int cpu;
    BpType type;
    unsigned weight;
  };

  unsigned pool_of(BpType t) const noexcept { return arch_.pool_of(slot_class_of_raw(t)); }
  unsigned pool_slots(unsigned pool) const noexcept { return pool_slots_[pool]; }
  Admit precheck(const Breakpoint& bp) const noexcept;
  Admit type_check(BpType type, unsigned pool) const noexcept;
  Shard& shard_of(std::uint64_t task) const noexcept;

  std::atomic<int>* tsk_hist(unsigned cpu, unsigned pool) const noexcept;
  unsigned& cpu_pinned(unsigned cpu, unsigned pool) const noexcept;
  int hist_max(const std::atomic<int>* h, unsigned pool) const noexcept;
  int hist_max_merge(const std::atomic<int>* h1, const std::atomic<int>* h2, unsigned pool) const noexcept;
  void hist_add(std::atomic<int>* h, int old, int val) const noexcept;

  // Admission with locks held.
  unsigned need_cpu_bound(int cpu, unsigned pool) const noexcept;                      // write lock
  unsigned need_task(const TaskState* ts, int cpu, unsigned pool) const noexcept;      // read lock
  Admit admit_task(const TaskState* ts, const Breakpoint& bp) const noexcept;
  Admit admit_cpu(const Breakpoint& bp) const noexcept;
  // toggle_bp_slot() for task and CPU targets.
  void toggle_task(TaskState& ts, int cpu, unsigned pool, unsigned weight, bool enable) noexcept;
  void toggle_cpu(int cpu, unsigned pool, unsigned weight, bool enable) noexcept;

  ArchInfo arch_;
  unsigned ncpus_;
  unsigned npools_;
  unsigned pool_slots_[2] = {0, 0};
  unsigned hist_stride_;  // atomics per CPU (both pools, padded to a cache line)

  // bp_cpuinfo_sem: shared for task operations, exclusive for CPU-bound ones.
  mutable std::shared_mutex constraints_;
  // Per-CPU tsk_pinned histograms [cpu][pool][S] (atomic: updated under the shared lock).
  std::unique_ptr<std::atomic<int>[]> tsk_pinned_;
  // Per-CPU cpu_pinned counts [cpu][pool] (written under the exclusive lock only).
  std::unique_ptr<unsigned[]> cpu_pinned_;
  // Global histograms over CPUs of cpu_pinned, and over all-CPU-only tasks of their load.
  std::unique_ptr<std::atomic<int>[]> cpu_pinned_hist_;       // [pool][S]
  std::unique_ptr<std::atomic<int>[]> tsk_pinned_all_hist_;   // [pool][S]
  // CPU-bound breakpoints (exclusive lock).
  std::unordered_map<std::uint64_t, CpuBp> cpu_bps_;
  std::uint64_t next_cpu_id_ = 0;
  // task_bps_ht: per-task state in shards, each with its own mutex (the per-task mutex).
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace hwbp::core
