// Arming the watches of one traced process on debug registers: resolved ranges -> exact chunks
// (core::split_range) -> slots (core::SlotTable: identical chunks of different watches share
// one) -> one perf event per (thread, slot).
//
// Events: pid = TID, cpu = -1, inherit + inherit_thread (threads created later get a copy from
// the kernel; fork children do not), remove_on_exec (exec drops them), exclude_kernel
// (perf_event_paranoid 2: writes the kernel makes on the program's behalf, e.g. read(2) into
// the variable, are not seen). With sigtrap (ptrace delivery) or with the BPF program attached
// (BPF delivery): the Delivery says which. sig_data = core/sig_data.hpp with the tool's owner
// tag: slot and generation (a rotation slot gets a new generation each time it moves, so a
// SIGTRAP still in flight from its previous chunk is recognised as stale).
//
// Every thread carries every slot, so the budget is 4 chunks in total (x86), whatever the
// number of threads. --flexible: the watches core::pin_then_rotate does not pin take turns on
// the slots the pinned ones leave free (slot_rotation.cpp), a whole watch at a time, moved in
// place with PERF_EVENT_IOC_MODIFY_ATTRIBUTES (the inherited copies in all threads follow).
//
// After each arming (pinned, or a rotation turn) the watch's value shadow is read and confirmed
// with the kernel's hit count (core/value_shadow.hpp): the program may be running meanwhile.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/arch.hpp"
#include "core/rotation.hpp"
#include "core/sig_data.hpp"
#include "core/slot_table.hpp"
#include "delivery.hpp"
#include "perf/event.hpp"
#include "session_hook.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {

class SlotArming {
 public:
  using Clock = core::CoverageClock::Clock;

  SlotArming(pid_t pid, WatchSet& watches, Delivery& delivery);

  // Runs its argument while no thread of the process runs (Tracer::with_all_stopped). Every
  // perf event is opened under it: a thread created while the threads are listed and their
  // events opened could otherwise carry two copies of an event (its creator's inherited one and
  // one opened on it by the re-scan: a second slot, so a spurious ENOSPC once the slots are
  // full, and each hit reported twice), since no interface tells which threads have a copy.
  // Unset: events are opened at once (re-scan only; the tests' single-threaded use).
  using AllThreadsStopped = std::function<void(const std::function<void()>&)>;
  void set_all_threads_stopped(AllThreadsStopped run_stopped) { all_stopped_ = std::move(run_stopped); }

  // --flexible: watches that do not fit rotate, one time slice each.
  void set_flexible(std::chrono::milliseconds slice) { slice_ = slice; }
  bool flexible() const noexcept { return slice_.count() > 0; }

  // Arms every resolved watch that is not armed yet, on every thread (all-or-nothing per
  // watch). Throws hwbp::Error: not enough slots (with the count needed vs available), perf
  // errors (permission with the setting to change). With --flexible, the watches that are not
  // pinned join the rotation instead (a watch larger than the rotation pool still throws).
  void arm_resolved();
  // The same for the given watches only (the ones core::choose_engine put on debug registers).
  void arm_resolved(const std::vector<core::WatchId>& todo);
  // Would `w` get fixed slots of its own now, next to what is armed (the plan, nothing armed)?
  bool fits(const Watch& w) const;

  // Rotation (--flexible): the watches that rotate, in command-line order; the pool's size.
  const std::vector<core::WatchId>& rotating() const noexcept { return rotating_; }
  std::size_t rotation_slots() const noexcept { return pool_.size(); }
  std::chrono::milliseconds slice() const noexcept { return slice_; }
  // When the next turn is due (nullopt: nothing rotates).
  std::optional<Clock::time_point> next_rotation() const;
  // One time slice (core::plan_turn).
  void rotate();

  // hwbp's own execute breakpoints (session_hook.hpp: the dynamic loader's debugger hook
  // _dl_debug_state, --at), always with sigtrap: arming watches there needs the program
  // stopped. Each takes a slot: counted in "does not fit" messages.
  void arm_hook(SessionHook kind, std::uint64_t addr);
  void disarm_hook(SessionHook kind);
  void disarm_hooks();
  std::optional<SessionHook> hook_of(const core::SigData& tag) const noexcept;
  std::size_t hook_slots() const noexcept { return hook_slots_.size(); }
  // The slot hook `kind` holds (nullopt: none), the loader hook's, and "slot N is hwbp's own
  // breakpoint on the dynamic loader ..." (each hook holding a slot) for messages about slots,
  // "" when hwbp holds none. Free slots of a thread.
  std::optional<int> hook_slot(SessionHook kind) const noexcept;
  std::optional<int> loader_slot() const noexcept { return hook_slot(SessionHook::loader); }
  std::string own_slots_note() const;
  unsigned free_slot_count() const { return free_slots(); }
  // Takes a pinned watch off the debug registers (the --at frame it lives in returned); the
  // slots it alone used are closed and given back.
  void disarm(core::WatchId id);

  // The watches a slot serves; empty for a slot not in use, and for a rotation slot's SIGTRAP
  // from an earlier turn (other generation, or trap_addr — si_addr, the breakpoint address at
  // trap time — not the chunk now in the slot; 0 = unknown, not compared).
  std::vector<core::WatchId> watches_of(const core::SigData& tag, std::uint64_t trap_addr) const;
  // Is the watch on the hardware now (pinned, or rotating and on its turn)?
  bool on_hardware(core::WatchId id) const;
  // Re-reads a watch's bytes from the process (nullopt if unreadable, or an execute watch).
  std::optional<Bytes> read_bytes(const Watch& w) const;

  // Hits the kernel counted for a watch while it was pinned on the debug registers: its events'
  // counts (read(2) of a perf event sums its inherited copies, live and exited: kernel/events/
  // core.c, perf_event_read_value), the most any one of its chunks counted (one access over two
  // chunks is one hit). nullopt: not known (a rotating watch: its slots change hands each turn).
  // The count grows at the trap, before any signal is sent (kernel/events/hw_breakpoint.c,
  // perf_bp_event), so a count read after the watch's bytes covers every store in them. The
  // ptrace delivery compares it with the SIGTRAP stops it got (PtraceDelivery::unseen_traps).
  std::optional<std::uint64_t> kernel_hits(core::WatchId id) const;
  // Stops every event from counting and signalling (the counts are final from here on); the
  // SIGTRAPs of hits made before are still on their way.
  void disable_all();

  // Closes every event (and with it the kernel's inherited copies in all threads).
  void close_all();
  // After execve: the events are gone (remove_on_exec) and the address space is new.
  void reset_after_exec(pid_t pid);

 private:
  struct SlotEvents {
    std::vector<perf::Event> events;    // one per thread opened explicitly
    std::vector<core::WatchId> watches;  // pinned watches served by this slot
  };
  // What each rotation pool slot watches now (no watch = parked).
  struct Turn {
    std::optional<core::WatchId> watch;
    std::uint64_t addr = 0;
    std::uint32_t generation = 0;
  };
  using Mapping = std::pair<core::Chunk, core::WatchId>;

  std::vector<core::Chunk> chunks_of(const Watch& w) const;
  std::vector<core::SlotKey> keys_of(const std::vector<core::Chunk>& chunks) const;
  std::vector<unsigned> budget() const { return core::slots_per_pool(arch_); }
  unsigned free_slots() const;
  std::string budget_message(const Watch& w, std::size_t needed) const;
  perf::BreakpointAttr attr_for(const core::Chunk& c, int slot, std::uint32_t generation,
                                bool sigtrap) const;
  std::uint64_t sig_data(int slot, std::uint32_t generation) const noexcept;

  void arm_pinned(core::WatchId id);
  // Opens the slots on every thread of the process (perf::open_on_process, with every thread
  // stopped: see set_all_threads_stopped) and enables them only when all opened.
  void open_on_all_threads(const std::vector<int>& slots, const std::vector<core::SlotKey>& keys,
                           bool force_sigtrap = false);
  // Hits of `slot` now belong to (chunk, watch): tells the delivery before the slot moves; and
  // forgets the previous mapping after, unless another slot still maps it.
  std::optional<Mapping> map_slot(int slot, core::WatchId watch, const core::Chunk& chunk);
  void unmap(const Mapping& old);
  std::int64_t slot_count(int slot) const;
  std::int64_t slots_count(const std::vector<int>& slots) const;
  // What is known just before arming a watch: its slots' hit count and its bytes.
  struct BeforeArming {
    std::int64_t count = 0;
    std::optional<Bytes> bytes;
  };
  BeforeArming before_arming(const Watch& w, const std::vector<int>& slots) const;
  // After arming, while the program may run: reads the watch's bytes again and seeds the
  // delivery's shadow with them if core::shadow_state confirms them (else it stays forgotten).
  void settle_shadow(const Watch& w, const std::vector<int>& slots, const BeforeArming& before);
  // The pinned watch's hits since it was armed (kernel_hits' live part).
  std::uint64_t live_hits(core::WatchId id) const;
  // Before events close: their live counts move to settled_hits_.
  void settle_counts();

  // Rotation internals (slot_rotation.cpp).
  core::Pinning choose_pinned(const std::vector<core::WatchId>& todo) const;
  void join_rotation(const std::vector<core::WatchId>& joining);
  void grow_pool(std::size_t want);
  void shrink_pool();
  void park_all(Clock::time_point now);
  void move_slot(int slot, std::optional<core::WatchId> watch, const core::Chunk& chunk);
  void take_turn(core::WatchId id, const std::vector<int>& slots, Clock::time_point now);
  void clear_rotation(Clock::time_point now);

  pid_t pid_;
  WatchSet& watches_;
  Delivery& delivery_;
  core::ArchInfo arch_;
  core::SlotTable table_;
  std::map<int, SlotEvents> slot_events_;
  std::map<core::WatchId, std::vector<int>> pinned_slots_;  // pinned watch -> its chunks' slots
  std::map<int, Mapping> mapped_;                           // slot -> (chunk, watch)
  std::map<core::WatchId, std::vector<std::int64_t>> count_base_;  // its slots' counts at arming
  std::map<core::WatchId, std::uint64_t> settled_hits_;            // counts of closed events
  std::map<SessionHook, int> hook_slots_;  // hwbp's own breakpoints -> their slot

  std::chrono::milliseconds slice_{0};
  std::vector<core::WatchId> rotating_;
  std::vector<int> pool_;
  std::map<int, Turn> turns_;
  std::size_t cursor_ = 0;
  std::uint32_t generation_ = 0;
  std::uint32_t rotation_ids_ = 0;
  std::optional<Clock::time_point> next_rotation_;
  AllThreadsStopped all_stopped_;
};

}  // namespace hwbp::cli
