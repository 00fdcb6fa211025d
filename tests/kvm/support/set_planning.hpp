// GuestDebugger's bookkeeping for a set of hardware watches, without /dev/kvm: the steps
// add() and remove() take around their KVM_SET_GUEST_DEBUG — validation, core::fit_slots,
// commit into the slot table, the watch set (built in place), the full debug state composed for
// KVM; for removal a copy of the table, release, the watches marked in place until the change is
// applied. The native allocation test and the planning benchmark run it (the real GuestDebugger
// runs in the test VM's tests).
#pragma once

#include <span>
#include <vector>

#include "core/request.hpp"
#include "core/slot_fit.hpp"
#include "kvm/debug_state.hpp"
#include "kvm/watch_set.hpp"

namespace hwbp::test::kvm {

// The benchmark's set (bench/kvm_bench.cpp's bench_set on a backend with data hits): two
// breakpoints and two 8-byte write watches, at guest addresses.
inline constexpr hwbp::kvm::WatchSpec kPlanningSet[] = {
    {0x401000, 1, Access::exec, hwbp::kvm::Engine::hardware},
    {0x401001, 1, Access::exec, hwbp::kvm::Engine::hardware},
    {0x602000, 8, Access::write, hwbp::kvm::Engine::hardware},
    {0x602008, 8, Access::write, hwbp::kvm::Engine::hardware}};

class SetPlanning {
 public:
  // Arms `specs` (all hardware, all fitting); false when one does not fit or is invalid.
  bool add(std::span<const hwbp::kvm::WatchSpec> specs, std::span<hwbp::kvm::WatchId> ids) {
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const hwbp::kvm::WatchSpec& s = specs[i];
      const core::WatchRequest req{static_cast<std::uintptr_t>(s.addr), static_cast<std::size_t>(s.len), s.access};
      if (core::validate_guest_range(arch_, req)) return false;
      const core::SlotFit fit = core::fit_slots(arch_, req, table_, hwbp::kvm::kDebugRegisters);
      if (!fit.plan) return false;
      table_.commit(*fit.plan, fit.key_span());
      watches_.reserve(watches_.size() + specs.size());
      hwbp::kvm::Watch& w = watches_.emplace_back();  // built in place, as add() does
      w.id = ids[i] = next_id_++;
      w.spec = s;
      w.engine = hwbp::kvm::Engine::hardware;
      w.hw.count = static_cast<std::uint8_t>(fit.keys.size());
      for (std::size_t k = 0; k < fit.keys.size(); ++k) {
        w.hw.chunks[k] = fit.keys[k].chunk;
        w.hw.slots[k] = fit.plan->slot_of_key[k];
      }
    }
    applied_ = hwbp::kvm::compose(request());
    return true;
  }

  void remove(std::span<const hwbp::kvm::WatchId> ids) {
    core::SlotTable table = table_;
    for (hwbp::kvm::WatchId id : ids) {
      hwbp::kvm::Watch* w = watches_.find(id);
      if (!w || w->leaving) continue;
      table.release(w->hw.used_slots());
      w->leaving = true;  // marked in place until the change is applied, as remove() does
    }
    applied_ = hwbp::kvm::compose(request_from(table));
    watches_.erase_if([](const hwbp::kvm::Watch& w) { return w.leaving; });
    table_ = table;
  }

  const kvm_guest_debug& applied() const { return applied_; }
  std::size_t size() const { return watches_.size(); }

 private:
  hwbp::kvm::DebugRequest request() const { return request_from(table_); }
  static hwbp::kvm::DebugRequest request_from(const core::SlotTable& table) {
    hwbp::kvm::DebugRequest r;
    for (unsigned n = 0; n < hwbp::kvm::kDebugRegisters; ++n)
      if (table.in_use(static_cast<int>(n))) r.slots[n] = table.key(static_cast<int>(n)).chunk;
    return r;
  }

  core::ArchInfo arch_ = core::arch_x86_guest(true);
  core::SlotTable table_{arch_, hwbp::kvm::kDebugRegisters, {hwbp::kvm::kDebugRegisters}};
  hwbp::kvm::WatchSet watches_;
  hwbp::kvm::WatchId next_id_ = 1;
  kvm_guest_debug applied_{};
};

}  // namespace hwbp::test::kvm
