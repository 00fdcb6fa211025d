// An exec watch served by a uprobe (perf/uprobe.hpp): any number of them, and where the debug
// registers deliver no hits. Still a perf event with sigtrap, so its hits arrive through the
// library's SIGTRAP handler and the one siginfo decoder (perf/sigtrap_info.hpp), tagged with
// core/sig_data.hpp like the debug registers' slots (slot numbers with kUprobeSlotBit set).
// Differences from a hardware exec hit, kept visible in the Hit: the SIGTRAP comes after the
// probed instruction ran (Hit::ip is the next instruction, Hit::pc the probed one).
#pragma once

#include <atomic>
#include <cstdint>

#include "inprocess/software_watch.hpp"
#include "perf/thread_coverage.hpp"

namespace hwbp::inprocess {

// sig_data slot numbers of uprobe watches carry this bit (the debug registers' slots are below
// DispatchTable::kCapacity); the index below it is the watch's entry in the uprobe table.
inline constexpr std::uint16_t kUprobeSlotBit = 0x8000;
inline constexpr int kUprobeCapacity = 1024;

class UprobeWatch final : public SoftwareWatch {
 public:
  // Opens the probe on the target's threads (enabled if `enabled`). counting: no callback, the
  // kernel counts (no signal). Throws hwbp::Error.
  UprobeWatch(const core::WatchRequest& request, const Target& target, const SoftwareListener& listener,
              bool enabled, bool counting);
  ~UprobeWatch() override;
  UprobeWatch(const UprobeWatch&) = delete;
  UprobeWatch& operator=(const UprobeWatch&) = delete;

  void set_enabled(bool on) override;
  void retarget(const core::WatchRequest& request) override;
  std::uint64_t hits() const override;
  bool armed() const override { return enabled_; }

 private:
  struct Probe {
    int index = -1;  // entry in the uprobe table (-1: counting, no signal)
    perf::ThreadEvents events;
  };
  Probe open_probe(const core::WatchRequest& request);
  void close_probe(Probe& probe) noexcept;
  std::uint64_t kernel_count() const;

  Target target_;
  SoftwareListener listener_;
  bool counting_;
  bool enabled_;
  Probe probe_;
  std::uint64_t count_base_ = 0;  // counting mode: hits of probes closed by retarget()
};

// Handler side (sigtrap.cpp): a perf trap tagged with a uprobe slot. Delivers it if the entry is
// still the one that armed the event. Async-signal-safe; the caller is inside the dispatch
// table's enter()/leave().
void deliver_uprobe_trap(std::uint16_t slot, std::uint32_t generation, void* uc) noexcept;

}  // namespace hwbp::inprocess
