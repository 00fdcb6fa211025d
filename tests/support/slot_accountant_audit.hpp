// Test-only views of core::SlotAccountant's state. is_used(): the kernel's
// hw_breakpoint_is_used() (any count or bucket non-zero; the KUnit suite's leak check), O(#CPUs x S).
// audit(): a consistency audit that recomputes every histogram from the
// per-task and per-CPU state and compares (no lost or negative bucket, the one-representation
// invariant, need <= S everywhere). "" when consistent, else a description of the first
// difference. O(#tasks x #CPUs). Test-only: the library never needs it.
#pragma once

#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/slot_accountant.hpp"
#include "core/slot_accountant_state.hpp"

namespace hwbp::core {

struct SlotAccountantAudit {
  static std::string fmt(const char* f, long a, long b = 0, long c = 0, long d = 0) {
    char buf[256];
    std::snprintf(buf, sizeof buf, f, a, b, c, d);
    return buf;
  }

  static bool is_used(const SlotAccountant& a) {
    std::unique_lock wl(a.constraints_);
    for (unsigned c = 0; c < a.ncpus_; ++c)
      for (unsigned p = 0; p < a.npools_; ++p) {
        if (a.cpu_pinned(c, p)) return true;
        for (unsigned i = 0; i < a.pool_slots(p); ++i)
          if (a.tsk_hist(c, p)[i].load(std::memory_order_relaxed)) return true;
      }
    for (unsigned i = 0; i < a.pool_slots_[0] + a.pool_slots_[1]; ++i)
      if (a.cpu_pinned_hist_[i].load(std::memory_order_relaxed) ||
          a.tsk_pinned_all_hist_[i].load(std::memory_order_relaxed))
        return true;
    return false;
  }

  static std::string run(const SlotAccountant& a) {
    std::vector<std::unique_lock<std::mutex>> locks;
    locks.reserve(kAccountantShards);
    for (unsigned s = 0; s < kAccountantShards; ++s) locks.emplace_back(a.shards_[s].mu);  // shard order
    std::unique_lock wl(a.constraints_);

    const unsigned total = a.pool_slots_[0] + a.pool_slots_[1];
    auto base = [&](unsigned p) { return p ? a.pool_slots_[0] : 0u; };
    std::vector<int> want_tsk(std::size_t{a.ncpus_} * total, 0), want_all(total, 0), want_cpu(total, 0);
    std::vector<unsigned> want_pinned(std::size_t{a.ncpus_} * 2, 0);
    std::vector<unsigned> max_task(std::size_t{a.ncpus_} * 2, 0);

    for (const auto& [id, b] : a.cpu_bps_) want_pinned[std::size_t{unsigned(b.cpu)} * 2 + a.pool_of(b.type)] += b.weight;
    for (unsigned c = 0; c < a.ncpus_; ++c)
      for (unsigned p = 0; p < a.npools_; ++p) {
        const unsigned v = want_pinned[c * 2 + p];
        if (v != a.cpu_pinned(c, p)) return fmt("cpu %ld pool %ld: cpu_pinned %ld, expected %ld", c, p, a.cpu_pinned(c, p), v);
        if (v > a.pool_slots(p)) return fmt("cpu %ld pool %ld: cpu_pinned %ld > slots", c, p, v);
        if (v) ++want_cpu[base(p) + v - 1];
      }

    for (unsigned s = 0; s < kAccountantShards; ++s)
      for (const auto& [task, ts] : a.shards_[s].tasks) {
        if (ts.bps.empty()) return fmt("task %ld: empty state kept", static_cast<long>(task));
        SlotAccountant::TaskPool expect[2];
        for (const SlotAccountant::TaskBp& b : ts.bps) expect[a.pool_of(b.type)].add(b.cpu, b.weight);
        for (unsigned p = 0; p < a.npools_; ++p) {
          const SlotAccountant::TaskPool& tp = ts.pools[p];
          if (tp.all != expect[p].all || tp.specific != expect[p].specific)
            return fmt("task %ld pool %ld: aggregated load differs from its breakpoints", static_cast<long>(task), p);
          if (tp.cpu_independent()) {
            if (tp.all) {
              if (tp.all > a.pool_slots(p)) return fmt("task %ld pool %ld: load %ld > slots", static_cast<long>(task), p, tp.all);
              ++want_all[base(p) + tp.all - 1];
            }
            for (unsigned c = 0; c < a.ncpus_; ++c) max_task[c * 2 + p] = std::max(max_task[c * 2 + p], tp.all);
          } else {
            for (unsigned c = 0; c < a.ncpus_; ++c) {
              const unsigned load = tp.on(static_cast<int>(c));
              if (load > a.pool_slots(p)) return fmt("task %ld cpu %ld: load %ld > slots", static_cast<long>(task), c, load);
              if (load) ++want_tsk[std::size_t{c} * total + base(p) + load - 1];
              max_task[c * 2 + p] = std::max(max_task[c * 2 + p], load);
            }
          }
        }
      }

    for (unsigned p = 0; p < a.npools_; ++p)
      for (unsigned i = 0; i < a.pool_slots(p); ++i) {
        const int got_cpu = a.cpu_pinned_hist_[base(p) + i].load(std::memory_order_relaxed);
        const int got_all = a.tsk_pinned_all_hist_[base(p) + i].load(std::memory_order_relaxed);
        if (got_cpu != want_cpu[base(p) + i])
          return fmt("pool %ld: cpu_pinned histogram bucket %ld = %ld, expected %ld", p, i, got_cpu, want_cpu[base(p) + i]);
        if (got_all != want_all[base(p) + i])
          return fmt("pool %ld: tsk_pinned_all bucket %ld = %ld, expected %ld", p, i, got_all, want_all[base(p) + i]);
        for (unsigned c = 0; c < a.ncpus_; ++c) {
          const int got = a.tsk_hist(c, p)[i].load(std::memory_order_relaxed);
          const int want = want_tsk[std::size_t{c} * total + base(p) + i];
          if (got != want) return fmt("cpu %ld pool %ld: tsk_pinned bucket %ld = %ld", c, p, i, got) + fmt(", expected %ld", want);
        }
      }
    for (unsigned c = 0; c < a.ncpus_; ++c)
      for (unsigned p = 0; p < a.npools_; ++p)
        if (a.cpu_pinned(c, p) + max_task[c * 2 + p] > a.pool_slots(p))
          return fmt("cpu %ld pool %ld: over-committed, cpu_pinned %ld + task %ld", c, p, a.cpu_pinned(c, p), max_task[c * 2 + p]);
    return {};
  }
};

inline bool is_used(const SlotAccountant& accountant) { return SlotAccountantAudit::is_used(accountant); }
inline std::string audit(const SlotAccountant& accountant) { return SlotAccountantAudit::run(accountant); }

}  // namespace hwbp::core
