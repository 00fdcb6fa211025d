// The ptrace delivery (`--mode ptrace`, no privilege): watch events are perf sigtrap events;
// each hit stops the writer in a SIGTRAP signal-delivery-stop right after the access (tracer.hpp
// swallows that SIGTRAP), where this delivery reads the watched bytes (exact for the stopped
// writer), takes the old ones from its value shadow and unwinds the stopped thread.
//
// One instruction that hits several slots raises a single SIGTRAP (a standard signal pending
// twice is delivered once): when a hit watch shares bytes with another one, the instruction is
// decoded and its memory operands computed from the registers after it
// (symbols/data_access.hpp), and every watch on the hardware that the access touched is
// reported.
#pragma once

#include <map>

#include "core/value_shadow.hpp"
#include "delivery.hpp"
#include "slot_arming.hpp"
#include "symbols/process_image.hpp"
#include "watch_set.hpp"

struct user_regs_struct;

namespace hwbp::cli {

class PtraceDelivery : public Delivery {
 public:
  PtraceDelivery(WatchSet& watches, Symbolizer& symbolizer, HitSink& sink)
      : watches_(watches), symbolizer_(symbolizer), sink_(sink) {}
  // The arming whose slots the SIGTRAPs name (set once it exists).
  void set_arming(const SlotArming* arming) { arming_ = arming; }

  const char* mode() const noexcept override { return "ptrace"; }
  bool uses_sigtrap() const noexcept override { return true; }
  void forget_shadow(core::WatchId watch) override;
  void seed_shadow(core::WatchId watch, const Bytes& bytes) override;

  bool owns(const siginfo_t& info) const override;
  void on_stop(pid_t tid, const siginfo_t& info) override;

  // SIGTRAP stops that named the watch (its own slot's, or a co-hit), before any filter: what
  // the kernel's count for it (SlotArming::kernel_hits) must match. A SIGTRAP that never stops
  // its thread — the thread blocks SIGTRAP: perf's is not forced (kernel/signal.c,
  // send_sig_perf) and a blocked signal is never dequeued, so ptrace never sees it — is the
  // difference.
  std::uint64_t trapped(core::WatchId watch) const {
    auto it = trapped_.find(watch);
    return it == trapped_.end() ? 0 : it->second;
  }

 private:
  // The other watches on the hardware that the instruction before the trap ip also hit.
  std::vector<core::WatchId> co_hits(const std::vector<core::WatchId>& hit, const user_regs_struct& regs);

  WatchSet& watches_;
  Symbolizer& symbolizer_;
  HitSink& sink_;
  const SlotArming* arming_ = nullptr;
  std::map<core::WatchId, core::ValueShadow> shadows_;
  std::map<core::WatchId, std::uint64_t> trapped_;
};

}  // namespace hwbp::cli
