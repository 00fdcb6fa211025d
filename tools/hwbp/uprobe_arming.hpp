// Execute breakpoints without debug registers for `hwbp run|attach` (issue 15): the perf uprobe
// PMU (perf/uprobe.hpp), one event per thread with sigtrap + inherit + inherit_thread +
// remove_on_exec, like the debug-register events of slot_arming.hpp, so the tracer sees each hit
// as a SIGTRAP (TRAP_PERF, the tool's sig_data tag) and discards it. No slot limit, any number,
// and it works where the hypervisor delivers no debug exceptions. The kernel puts the int3 in the
// file's text and single-steps the probed instruction out of line itself, so threads racing
// through the breakpoint are all counted: exact counts with no stop of other threads.
// Needs CAP_PERFMON or root (the uprobe PMU refuses unprivileged callers at any paranoid level).
//
// Also the dynamic loader's hook (_dl_debug_state) that arms watches in libraries loaded later
// (--pending, and names in the initial libraries at `run` start): a uprobe needs no slot and
// fires where debug exceptions are silent.
//
// The SIGTRAP arrives after the probed instruction ran: the hit is reported at the breakpoint's
// address (the watch's), the stack unwound from the stopped thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "core/sig_data.hpp"
#include "delivery.hpp"
#include "hit_report.hpp"
#include "perf/event.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {

class UprobeArming {
 public:
  UprobeArming(pid_t pid, WatchSet& watches, Symbolizer& symbolizer, HitSink& sink)
      : pid_(pid), watches_(watches), symbolizer_(symbolizer), sink_(sink) {}

  // Can uprobe events be opened here (the PMU exists and this process has the privilege)?
  static bool available();

  // Arms execute watch `id` on every thread. Throws hwbp::Error (not in a file mapping, refused).
  void arm(core::WatchId id);
  void arm_loader_hook(std::uint64_t addr);
  void disarm_loader_hook() { loader_.reset(); }
  bool loader_hook_armed() const noexcept { return loader_.has_value(); }

  // Is this tag (the tool's sig_data) one of the uprobe events'?
  static bool owns(const core::SigData& tag) noexcept { return tag.slot >= kSlotBase; }
  bool is_loader_hit(const core::SigData& tag) const noexcept { return tag.slot == kLoaderSlot; }
  // A hit of watch event `tag` on stopped thread `tid`: one HitEvent to the sink.
  void on_stop(pid_t tid, const core::SigData& tag);

  void close_all();
  // After execve: the events are gone (remove_on_exec) and the address space is new.
  void reset_after_exec(pid_t pid);

 private:
  // Slots of the sig_data tag beyond any debug-register slot number.
  static constexpr std::uint16_t kSlotBase = 0x8000;
  static constexpr std::uint16_t kLoaderSlot = 0xffff;
  struct Probe {
    std::uint64_t addr = 0;
    std::vector<perf::Event> events;  // one per thread; later threads inherit them
  };
  Probe open_probe(std::uint64_t addr, std::uint16_t slot, const std::string& what) const;

  pid_t pid_;
  WatchSet& watches_;
  Symbolizer& symbolizer_;
  HitSink& sink_;
  std::map<std::uint16_t, std::pair<core::WatchId, Probe>> probes_;  // slot -> watch, events
  std::optional<Probe> loader_;
  std::uint16_t next_slot_ = kSlotBase;
};

}  // namespace hwbp::cli
