// The ptrace delivery (`--mode ptrace`, no privilege): watch events are perf sigtrap events;
// each hit stops the writer in a SIGTRAP signal-delivery-stop right after the access (tracer.hpp
// swallows that SIGTRAP), where this delivery reads the watched bytes (exact for the stopped
// writer), takes the old ones from its value shadow and unwinds the stopped thread.
//
// Values under racing writers (issue 17): the bytes read at the stop are those of the latest
// store, which another thread may have made since this one. So the new value comes from the
// instruction and the registers at the stop where they hold it (decode/stored_value.hpp), and
// the old one from the order of the stores (store_sequencer.hpp): each stop is an observation
// of the bytes, in the tracer's order; a thread's store lies after its own previous stop; and
// when the kernel's hit count equals the stops seen (no trapped store is still on its way to
// the tracer), no store still to come lies before this stop, and the hits up to it are
// resolved and reported. Otherwise they wait, with their stack taken now while the thread
// is stopped, until such a stop, a flush, or a second has passed.
//
// One instruction that hits several slots raises a single SIGTRAP (a standard signal pending
// twice is delivered once): when a hit watch shares bytes with another one, the instruction is
// decoded and its memory operands computed from the registers after it
// (symbols/data_access.hpp), and every watch on the hardware that the access touched is
// reported.
#pragma once

#include <map>

#include "delivery.hpp"
#include "slot_arming.hpp"
#include "store_sequencer.hpp"
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
  std::optional<TimePoint> next_poll() const override;
  void poll(std::chrono::milliseconds budget) override;
  void flush() override;

 private:
  // One watch's hits in the order of its stores.
  struct Order {
    StoreSequencer sequencer;
    std::map<pid_t, StoreSequencer::Mark> thread_mark;  // each thread's previous stop
    std::int64_t stops = 0;             // stops of this watch since (re)arming
    std::optional<std::int64_t> quiet;  // hit count - stops when no hit was in flight
  };
  Order& order_of(const Watch& w);
  void restart(core::WatchId watch, std::optional<Bytes> at_arming);
  void sequence(const Watch& w, HitEvent h, const user_regs_struct& regs, bool async);

  // The other watches on the hardware that the instruction before the trap ip also hit.
  std::vector<core::WatchId> co_hits(const std::vector<core::WatchId>& hit, const user_regs_struct& regs);

  WatchSet& watches_;
  Symbolizer& symbolizer_;
  HitSink& sink_;
  const SlotArming* arming_ = nullptr;
  std::map<core::WatchId, Order> orders_;
};

}  // namespace hwbp::cli
