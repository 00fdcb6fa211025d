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
// when the kernel's hit count is back to the stops seen (unseen_traps: no trapped store is
// still on its way to the tracer), no store still to come lies before this stop, and the hits
// up to it are resolved and reported. Otherwise they wait, with their stack taken now while the
// thread is stopped, until such a stop, a flush, or a second has passed.
//
// Lost traps (issue 12): a thread that blocks SIGTRAP never stops for its hits (perf's SIGTRAP
// is not forced: kernel/signal.c, send_sig_perf; a blocked signal is never dequeued). Its
// stores stay counted by the kernel and unseen: the same difference that orders the racing
// stores. Still unseen after the wait, they are lost: the hits waiting then are settled with
// the order-dependent values marked not exact (a store nobody saw lies somewhere among them,
// StoreSequencer::poison), the loss becomes the new reference, and the session reports it per
// watch at the end (Session::count_lost_traps).
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
  void watch_ending(core::WatchId watch) override;

  // The kernel's hits of a watch that no SIGTRAP stop brought (yet): SlotArming::kernel_hits
  // minus trapped_. In flight for microseconds, or lost for good when the thread blocks SIGTRAP.
  // The one comparison of the two counts: the order of racing stores waits on it, and the
  // session's drain and loss report read it. nullopt: the kernel's count is not known (a
  // rotating watch: its slots change hands each turn).
  std::optional<std::int64_t> unseen_traps(core::WatchId watch) const;

 private:
  // One watch's hits in the order of its stores.
  struct Order {
    StoreSequencer sequencer;
    std::map<pid_t, StoreSequencer::Mark> thread_mark;  // each thread's previous stop
    // unseen_traps when none was in flight (at arming, or the first stop): the traps lost
    // before and any skew of the count. Equal again: nothing is in flight.
    std::optional<std::int64_t> accounted;
  };
  Order& order_of(const Watch& w);
  void restart(core::WatchId watch, std::optional<Bytes> at_arming);
  void sequence(const Watch& w, HitEvent h, const user_regs_struct& regs, bool async);
  // Unseen traps beyond `accounted` that waited out kMaxWait: lost; the waiting hits are marked.
  void account_lost(core::WatchId watch, Order& o);

  // The other watches on the hardware that the instruction before the trap ip also hit.
  std::vector<core::WatchId> co_hits(const std::vector<core::WatchId>& hit, const user_regs_struct& regs);

  WatchSet& watches_;
  Symbolizer& symbolizer_;
  HitSink& sink_;
  const SlotArming* arming_ = nullptr;
  std::map<core::WatchId, Order> orders_;
  // SIGTRAP stops that named each watch (its own slot's, or a co-hit), before any filter, since
  // the session began: the tracer's side of unseen_traps.
  std::map<core::WatchId, std::uint64_t> trapped_;
};

}  // namespace hwbp::cli
