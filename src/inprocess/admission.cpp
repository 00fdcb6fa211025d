#include "inprocess/admission.hpp"

#include <algorithm>

namespace hwbp::inprocess {

Admission::Admission(const core::ArchInfo& arch, unsigned possible_cpus)
    : acc_(arch, possible_cpus == 0 ? 1 : possible_cpus) {}

unsigned Admission::own_slots(std::uint64_t tid) const {
  unsigned n = 0;
  for (const auto& [slot, h] : held_)
    if (!h.key.cpu_wide && h.key.target == tid) ++n;
  return n;
}

// What the kernel reserves for this slot: see the model in the header.
std::vector<std::pair<core::Breakpoint, int>> Admission::breakpoints_for(
    int slot, const core::SlotKey& key) const {
  core::BpType type = core::bp_type(key.chunk.type);
  std::vector<std::pair<core::Breakpoint, int>> bps;
  if (key.cpu_wide) {
    for (unsigned c = 0; c < acc_.ncpus(); ++c)
      bps.push_back({{core::kNoTask, static_cast<int>(c), type, 1}, slot});
    return bps;
  }
  if (key.target == core::kProcessTarget) {
    bps.push_back({{kEveryThread, core::kAllCpus, type, 1}, slot});
    std::vector<std::uint64_t> tids;
    for (const auto& [s, h] : held_)
      if (!h.key.cpu_wide && h.key.target != core::kProcessTarget) tids.push_back(h.key.target);
    std::sort(tids.begin(), tids.end());
    tids.erase(std::unique(tids.begin(), tids.end()), tids.end());
    for (std::uint64_t tid : tids) bps.push_back({{tid, core::kAllCpus, type, 1}, slot});
    return bps;
  }
  // A thread's first own slot: the thread becomes a task of its own, carrying the process-wide
  // slots too.
  if (own_slots(key.target) == 0)
    for (const auto& [s, h] : held_)
      if (!h.key.cpu_wide && h.key.target == core::kProcessTarget)
        bps.push_back({{key.target, core::kAllCpus, core::bp_type(h.key.chunk.type), 1}, s});
  bps.push_back({{key.target, core::kAllCpus, type, 1}, slot});
  return bps;
}

bool Admission::reserve_all(const std::vector<std::pair<core::Breakpoint, int>>& bps,
                            std::vector<Handle>& out, std::optional<core::Breakpoint>& refused) {
  for (const auto& [bp, owner] : bps) {
    core::SlotAccountant::Reservation r = acc_.reserve(bp);
    if (r.result != core::Admit::ok) {
      refused = bp;
      for (Handle h : out) acc_.release(h);
      out.clear();
      return false;
    }
    out.push_back(r.handle);
  }
  return true;
}

std::string Admission::explain(const core::Breakpoint& refused) const {
  core::Usage u = acc_.usage(refused);
  std::string who = refused.task == core::kNoTask ? "the busiest thread there holds "
                                                  : "that thread holds ";
  return "on CPU " + std::to_string(u.cpu) + " all " + std::to_string(u.slots) +
         " slots would be taken: " + std::to_string(u.cpu_pinned) + " by CPU-wide watches, " +
         who + std::to_string(u.task_load);
}

std::optional<std::string> Admission::admit(int slot, const core::SlotKey& key) {
  auto bps = breakpoints_for(slot, key);
  std::vector<Handle> handles;
  std::optional<core::Breakpoint> refused;
  if (!reserve_all(bps, handles, refused)) return explain(*refused);
  held_[slot].key = key;
  for (std::size_t i = 0; i < bps.size(); ++i) held_[bps[i].second].handles.push_back(handles[i]);
  return std::nullopt;
}

void Admission::release(int slot) noexcept {
  auto it = held_.find(slot);
  if (it == held_.end()) return;
  for (Handle h : it->second.handles) acc_.release(h);
  core::SlotKey key = it->second.key;
  held_.erase(it);
  // A thread whose last own slot went away folds back into the representative task: drop the
  // copies of the process-wide slots it carried.
  if (key.cpu_wide || key.target == core::kProcessTarget || own_slots(key.target) != 0) return;
  for (auto& [s, h] : held_) {
    auto keep = std::remove_if(h.handles.begin(), h.handles.end(), [&](Handle x) {
      if (x.task != key.target) return false;
      acc_.release(x);
      return true;
    });
    h.handles.erase(keep, h.handles.end());
  }
}

}  // namespace hwbp::inprocess
