// The kernel's admission rule applied to hwbp's own slots before arming (core::SlotAccountant,
// the model of kernel/events/hw_breakpoint.c), so a plan that cannot fit on some CPU is refused with an
// explanation instead of a bare ENOSPC, and CPU-wide watches are admitted by the same rule.
//
// Model: the slots of a process-wide watch are task breakpoints on all CPUs of every thread —
// one representative task stands for the threads with no slot of their own; a thread with its
// own slots is a task holding those plus copies of the process-wide ones. A CPU-wide watch is a
// CPU-bound breakpoint on each possible CPU, which takes a slot from every task on that CPU.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/slot_accountant.hpp"
#include "core/slot_table.hpp"

namespace hwbp::inprocess {

class Admission {
 public:
  Admission(const core::ArchInfo& arch, unsigned possible_cpus);
  // Reserves what the kernel will reserve for a new slot; on refusal changes nothing and returns
  // a one-line explanation naming the CPU and who holds its slots.
  std::optional<std::string> admit(int slot, const core::SlotKey& key);
  void release(int slot) noexcept;
  unsigned cpus() const noexcept { return acc_.ncpus(); }

 private:
  using Handle = core::SlotAccountant::Handle;
  static constexpr std::uint64_t kEveryThread = std::uint64_t{1} << 62;
  struct Held {
    core::SlotKey key;
    std::vector<Handle> handles;
  };
  // Each breakpoint with the slot whose Held records it (copies of process-wide slots that a
  // thread task carries are released with the process-wide slot).
  std::vector<std::pair<core::Breakpoint, int>> breakpoints_for(int slot, const core::SlotKey& key) const;
  bool reserve_all(const std::vector<std::pair<core::Breakpoint, int>>& bps,
                   std::vector<Handle>& out, std::optional<core::Breakpoint>& refused);
  std::string explain(const core::Breakpoint& refused) const;
  unsigned own_slots(std::uint64_t tid) const;

  core::SlotAccountant acc_;
  std::map<int, Held> held_;
};

}  // namespace hwbp::inprocess
