#include "plan_model.hpp"

#include <algorithm>

#include "core/rotation.hpp"
#include "core/slot_accountant.hpp"
#include "core/slot_table.hpp"
#include "hwbp/error.hpp"

namespace hwbp::cli {

using namespace hwbp::core;

namespace {

// Every chunk is reserved for this one task: a process-wide watch costs each thread the same
// slots, and threads never constrain each other, so one task stands for all of them.
constexpr std::uint64_t kPlanTask = 1;
// SlotTable's maximum; only chunks that got slots enter it, and no arch has more than 32.
constexpr std::size_t kTableCapacity = 64;

unsigned pool_of(const ArchInfo& arch, const Chunk& c) {
  return arch.pool_of(slot_class_of(c.type));
}

// A breakpoint type that lands in `pool`, to ask the accountant about that pool.
BpType type_in_pool(const ArchInfo& arch, unsigned pool) {
  const bool inst = !arch.mixed_pool && pool == static_cast<unsigned>(SlotClass::inst);
  return bp_type(inst ? HwType::exec : HwType::write);
}

// Greedy placement: the SlotTable finds shared chunks and free entries, the accountant applies
// the kernel's admission rule to each new one. Both must agree before anything is committed.
class Placer {
 public:
  Placer(const ArchInfo& arch, unsigned ncpus)
      : arch_(arch), acc_(arch, ncpus), budget_(free_slots()),
        table_(arch, kTableCapacity, budget_), next_slot_(arch.pool_count(), 0),
        slot_of_entry_(kTableCapacity, 0) {}

  // Slots per pool the kernel grants the task before anything is placed (accountant usage).
  const std::vector<unsigned>& budget() const { return budget_; }
  // Fixed slots taken in `pool` so far.
  unsigned used(unsigned pool) const { return next_slot_[pool]; }

  // All-or-nothing: on success `slots` holds each key's pool-local slot index.
  bool place(const std::vector<SlotKey>& keys, std::vector<unsigned>& slots) {
    const SlotTable::PlanResult r = table_.plan(keys);
    if (!r.plan || !reserve_created(*r.plan, keys)) return false;
    table_.commit(*r.plan, keys);
    // Entries are never released here, so pool-local numbering follows creation order.
    for (int e : r.plan->created) slot_of_entry_[e] = next_slot_[pool_of(arch_, table_.key(e).chunk)]++;
    slots.clear();
    for (int e : r.plan->slot_of_key) slots.push_back(slot_of_entry_[e]);
    return true;
  }

 private:
  // All of S here (nothing is CPU-bound), but asked the way the kernel would decide it.
  std::vector<unsigned> free_slots() const {
    std::vector<unsigned> v;
    for (unsigned p = 0; p < arch_.pool_count(); ++p)
      v.push_back(acc_.usage(Breakpoint{kPlanTask, kAllCpus, type_in_pool(arch_, p)}).free());
    return v;
  }

  // One accountant reservation per new entry; rolled back if any is refused.
  bool reserve_created(const SlotTable::Plan& plan, const std::vector<SlotKey>& keys) {
    std::vector<SlotAccountant::Handle> held;
    for (int e : plan.created) {
      const auto k = std::find(plan.slot_of_key.begin(), plan.slot_of_key.end(), e) -
                     plan.slot_of_key.begin();
      const auto res = acc_.reserve(Breakpoint{kPlanTask, kAllCpus, bp_type(keys[k].chunk.type)});
      if (res.result != Admit::ok) {
        for (auto h : held) acc_.release(h);
        return false;
      }
      held.push_back(res.handle);
    }
    return true;
  }

  ArchInfo arch_;
  SlotAccountant acc_;
  std::vector<unsigned> budget_;
  SlotTable table_;
  std::vector<unsigned> next_slot_;
  std::vector<unsigned> slot_of_entry_;
};

void validate_all(const ArchInfo& arch, std::span<const PlanWatch> watches) {
  for (const auto& w : watches)
    if (auto v = validate_range(arch, w.req); v && !(w.software_only && v->rule == core::Rule::too_large))
      throw Error(Errc::invalid_request, "watch spec '" + w.label + "': " + v->message);
}

std::vector<SlotKey> keys_of(const std::vector<Chunk>& chunks) {
  std::vector<SlotKey> keys;
  // Process-wide, delivered by signal: how hwbp arms a watch; other fields keep their defaults.
  for (const auto& c : chunks) {
    SlotKey k;
    k.chunk = c;
    k.target = kProcessTarget;
    keys.push_back(k);
  }
  return keys;
}

// Chunks share when they are the same chunk and both got a slot, or both did not.
void fill_shared_by(std::vector<PlannedChunk>& cs) {
  for (auto& c : cs)
    for (const auto& o : cs)
      if (o.chunk == c.chunk && o.slot.has_value() == c.slot.has_value() &&
          std::find(c.shared_by.begin(), c.shared_by.end(), o.watch) == c.shared_by.end())
        c.shared_by.push_back(o.watch);
}

// The pool furthest over (or closest to) its budget; ties go to the later pool (data on aarch64,
// where most watches live).
unsigned deciding_pool(const std::vector<PoolUse>& pools) {
  unsigned best = 0;
  auto over = [](const PoolUse& p) { return static_cast<long>(p.needed) - static_cast<long>(p.available); };
  for (unsigned p = 1; p < pools.size(); ++p) {
    const long a = over(pools[p]), b = over(pools[best]);
    if (a > b || (a == b && pools[p].needed >= pools[best].needed)) best = p;
  }
  return best;
}

// Per-pool distinct chunks: the slots these chunks need when all are armed at once.
std::vector<unsigned> distinct_chunks(const ArchInfo& arch, const std::vector<Chunk>& chunks) {
  return slots_needed_alone(arch, chunks);
}

bool exceeds(const std::vector<unsigned>& need, const std::vector<unsigned>& have) {
  for (std::size_t p = 0; p < need.size(); ++p)
    if (need[p] > have[p]) return true;
  return false;
}

struct Placement {
  std::vector<bool> placed;                  // per watch: got fixed slots
  std::vector<std::vector<unsigned>> slots;  // per watch, per chunk: pool-local slot
  std::vector<unsigned> used;                // per pool: fixed slots taken
  std::vector<unsigned> budget;              // per pool: slots an empty task has
};

// Places watches [0, limit) in order, each all-or-nothing (as arming them one by one would);
// with `prefix`, stops at the first that does not fit. Later watches are left unplaced.
Placement place(const ArchInfo& arch, unsigned ncpus, const std::vector<std::vector<Chunk>>& chunks,
                std::size_t limit, bool prefix) {
  Placer placer(arch, ncpus);
  Placement out{std::vector<bool>(chunks.size(), false), std::vector<std::vector<unsigned>>(chunks.size()),
                {}, placer.budget()};
  for (std::size_t i = 0; i < limit; ++i) {
    out.placed[i] = placer.place(keys_of(chunks[i]), out.slots[i]);
    if (!out.placed[i] && prefix) break;
  }
  for (unsigned p = 0; p < arch.pool_count(); ++p) out.used.push_back(placer.used(p));
  return out;
}

// Flexible: core::pin_then_rotate decides how many watches keep fixed slots (the rule the CLI's
// rotation applies); the rest rotate through the slots left free.
Placement place_flexible(const ArchInfo& arch, unsigned ncpus,
                         const std::vector<std::vector<Chunk>>& chunks) {
  const std::vector<unsigned> budget = place(arch, ncpus, chunks, 0, true).budget;
  auto pin = [&](std::size_t limit) {
    const Placement pl = place(arch, ncpus, chunks, limit, true);
    Pinning p;
    p.pinned = static_cast<std::size_t>(std::find(pl.placed.begin(), pl.placed.end(), false) -
                                        pl.placed.begin());
    p.pinned = std::min(p.pinned, limit);
    for (std::size_t q = 0; q < pl.budget.size(); ++q) p.free.push_back(pl.budget[q] - pl.used[q]);
    return p;
  };
  const Pinning pinned = pin_then_rotate(
      chunks.size(), budget, [&](std::size_t i) { return distinct_chunks(arch, chunks[i]); }, pin);
  return place(arch, ncpus, chunks, pinned.pinned, true);
}

}  // namespace

const char* pool_name(const ArchInfo& arch, unsigned pool) noexcept {
  if (arch.mixed_pool) return "mixed";
  return pool == static_cast<unsigned>(SlotClass::inst) ? "inst" : "data";
}

WatchPlan plan_watches(const ArchInfo& arch, unsigned ncpus, std::span<const PlanWatch> watches,
                       bool flexible) {
  if (ncpus == 0) throw Error(Errc::invalid_request, "--cpus 0: a machine has at least 1 CPU");
  validate_all(arch, watches);  // before placing, so an error never depends on the order
  std::vector<std::vector<Chunk>> chunks;
  for (const auto& w : watches)
    chunks.push_back(w.software_only ? std::vector<Chunk>{} : split_range(arch, w.req));
  const Placement placed = flexible ? place_flexible(arch, ncpus, chunks)
                                    : place(arch, ncpus, chunks, chunks.size(), false);
  WatchPlan out;
  out.flexible = flexible;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (watches[i].software_only) {
      out.software_only.push_back(i);
      continue;
    }
    if (!placed.placed[i]) out.overflowed.push_back(i);
    for (std::size_t k = 0; k < chunks[i].size(); ++k) {
      PlannedChunk pc{i, chunks[i][k], pool_of(arch, chunks[i][k]), std::nullopt, false, {}};
      if (placed.placed[i]) pc.slot = placed.slots[i][k];
      else pc.rotates = flexible;
      out.chunks.push_back(std::move(pc));
    }
  }
  std::vector<Chunk> all;
  for (const auto& c : chunks) all.insert(all.end(), c.begin(), c.end());
  const std::vector<unsigned> needed = distinct_chunks(arch, all);
  for (unsigned p = 0; p < arch.pool_count(); ++p)
    out.pools.push_back({needed[p], placed.budget[p], placed.budget[p] - placed.used[p]});
  for (std::size_t w : out.overflowed)
    if (exceeds(distinct_chunks(arch, chunks[w]), placed.budget)) out.never_fit.push_back(w);
  // A watch that can never be armed does not rotate either.
  for (auto& c : out.chunks)
    if (std::find(out.never_fit.begin(), out.never_fit.end(), c.watch) != out.never_fit.end())
      c.rotates = false;
  fill_shared_by(out.chunks);
  out.pool = deciding_pool(out.pools);
  out.fits = flexible ? out.never_fit.empty() : out.overflowed.empty();
  return out;
}

}  // namespace hwbp::cli
