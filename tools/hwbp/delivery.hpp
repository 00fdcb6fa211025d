// How hits reach `hwbp run|attach`, and where every delivery hands them over.
//
// A delivery turns whatever the kernel gives it about one access into a HitEvent and passes it
// to the session's HitSink. The sink is the one acceptance path (hit_acceptance.hpp): the value
// filter (core/value_filter.hpp: modify / r), --if, --ignore, --max-hits, the report (human,
// JSON, --count, --folded) and the per-watch counts of the summaries. Nothing after the sink
// knows which delivery produced a hit, and no delivery decides any of those things itself.
//
// Deliveries today:
//  - PtraceDelivery (ptrace_delivery.hpp): perf sigtrap events; each hit stops the writer in a
//    SIGTRAP signal-delivery-stop, where hwbp reads the bytes and the stack and resumes it.
//  - BpfDelivery (bpf_delivery.hpp): a BPF program on the events reads the bytes in the kernel
//    at the hit and sends records through a ring buffer; the program never stops.
// Both arm debug registers through SlotArming (slot_arming.hpp), which tells the delivery what
// it arms through the arming hooks below.
//
// Plugging in another delivery (the page-protection engine, issue 15): it implements the hit
// side of this interface and produces HitEvents; its own arming replaces SlotArming's (pages, not
// slots), so it ignores the arming hooks. What it has per resolved store maps one to one:
//   watch id            -> HitEvent::watch (the WatchSet's id of every watch the store touched;
//                          one HitEvent per watch, a store over two chunks of one watch is one)
//   tid                 -> HitEvent::tid
//   pc                  -> HitEvent::pc with pc_is = PcIs::the_access (the faulting, emulated
//                          instruction itself; debug registers report the next one)
//   exact old / new     -> old_bytes / new_bytes (the watch's bytes only); value_filtered =
//                          false so the sink applies modify / r; old_exact / new_exact stay
//                          true (the page engine's values are exact by construction).
//   registers / stack   -> unwind: frames of the stopped thread (symbols::backtrace_thread) or
//                          of a register + stack snapshot (symbols::backtrace_snapshot)
//   "made by syscall X" -> made_by = "read", "recvmsg", ...: a store the kernel made for that
//                          syscall (pc is then the syscall instruction)
// Its stops reach it through owns() / on_stop() (a SIGSEGV signal-delivery-stop for a protected
// page instead of a SIGTRAP), its periodic work through next_poll() / poll(), and the session
// calls flush() before anything that changes what a pending hit means (exec, exit, detach).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/split.hpp"
#include "core/value_shadow.hpp"
#include "core/watch_id.hpp"
#include "hit_report.hpp"

namespace hwbp::perf {
class Event;
}

namespace hwbp::cli {

using Bytes = std::vector<std::uint8_t>;

// What HitEvent::pc is.
enum class PcIs : std::uint8_t {
  after_access,  // a trap: the instruction after the access (x86 data breakpoints, uprobes)
  the_access,    // the accessing instruction itself (execute breakpoints, emulated stores)
};

// One access to one watch, as a delivery reports it.
struct HitEvent {
  core::WatchId watch;
  pid_t tid = 0;
  std::uint64_t pc = 0;
  PcIs pc_is = PcIs::after_access;
  std::optional<Bytes> old_bytes;  // the watch's bytes before the access; nullopt = unknown
  std::optional<Bytes> new_bytes;  // after it; nullopt = unknown
  bool async = false;              // the thread stopped later than the access (values moved on)
  // The delivery applied the watch's value filter already (the BPF program, in the kernel);
  // the sink then does not apply it again.
  bool value_filtered = false;
  // Non-empty: the kernel made this store for that syscall (e.g. "read" into a watched buffer).
  std::string made_by;
  // Frames of the accessing thread, innermost first, at most `depth`.
  Symbolizer::Unwind unwind;
  // unwind returns frames taken already (the thread has run on since the hit).
  bool unwind_kept = false;
  // The values are the exact bytes before / after this access (issue 17). Hardware hits read
  // after the trap are exact only when the order of the racing stores proves them
  // (store_sequencer.hpp); a value that is not is still shown, marked, and never filtered on.
  bool old_exact = true, new_exact = true;
  // A value is not exact because a store whose hit never came (lost: a thread blocking SIGTRAP
  // in ptrace mode, a full BPF ring) lies next to this one, not only because threads raced.
  bool near_lost = false;
};

// The session's acceptance path (hit_acceptance.hpp implements it).
class HitSink {
 public:
  virtual ~HitSink() = default;
  virtual void accept(HitEvent hit) = 0;
  // `n` hits of `watch` at trap pc `pc`, counted in the kernel (BPF --count): no values, no
  // thread, no stack; they count towards the summaries and the --count table.
  virtual void accept_count(core::WatchId watch, std::uint64_t pc, std::uint64_t n) = 0;
  // `n` of those hits raced with another thread's store to the watch's bytes: whether they
  // changed the bytes (modify, r) is not exact, and so are the watch's counts.
  virtual void counts_not_exact(core::WatchId watch, std::uint64_t n) = 0;
  // True once --max-hits is reached: later hits are dropped.
  virtual bool done() const = 0;
  // Frames a report shows (--stack): what a delivery keeps of a hit it reports later.
  virtual std::size_t stack_depth() const { return 64; }
};

class Delivery {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  // poll() budgets: read until nothing is left (before a detach, an exec), or for a while.
  static constexpr std::chrono::milliseconds kAll{-1};

  virtual ~Delivery() = default;
  // "ptrace" or "bpf": the JSON summary's "mode".
  virtual const char* mode() const noexcept = 0;

  // ---- arming hooks (SlotArming calls them; a delivery with its own arming ignores them) ----
  // Open the watch events with sigtrap (the tracer intercepts each SIGTRAP), or without (the
  // delivery attaches itself to each event with attach()).
  virtual bool uses_sigtrap() const noexcept = 0;
  virtual void attach(const perf::Event& /*event*/) {}
  // A watch is about to be armed (pinned, or for a rotation turn), before any event can fire.
  virtual void watch_armed(const Watch& /*w*/) {}
  // Hits of breakpoint `chunk` now belong to `watch` (its chunk number `part`); or no longer.
  // Called before a slot moves to the chunk, and after it left it.
  virtual void chunk_mapped(const core::Chunk& /*chunk*/, core::WatchId /*watch*/, unsigned /*part*/) {}
  virtual void chunk_unmapped(const core::Chunk& /*chunk*/, core::WatchId /*watch*/) {}
  virtual void chunks_cleared() {}
  // The value shadow (core/value_shadow.hpp), the old value of a watch's next hit. Forgotten
  // before a watch is armed (its next hit's old value is unknown); seeded with the bytes at
  // arming time once the confirmation rule proved them — and forgotten again if a hit was
  // counted while the seed was being stored (it may have landed after that hit's own update).
  virtual void forget_shadow(core::WatchId watch) = 0;
  virtual void seed_shadow(core::WatchId watch, const Bytes& bytes) = 0;

  // ---- hits ----
  // A stop of a traced thread this delivery handles (its signal is swallowed afterwards).
  virtual bool owns(const siginfo_t& /*info*/) const { return false; }
  virtual void on_stop(pid_t /*tid*/, const siginfo_t& /*info*/) {}
  // Periodic reading (nullopt: none). poll() reads for about `budget` (kAll: until empty).
  virtual std::optional<TimePoint> next_poll() const { return std::nullopt; }
  virtual void poll(std::chrono::milliseconds /*budget*/) {}
  // Everything the kernel holds for the session now: records and in-kernel counts. Called
  // before an exec, at the end, and whenever the events were closed.
  virtual void flush() {}
  // Watch `watch` ends now (its --at frame returned) while the program is stopped: the hits of
  // it seen so far are reported now, before the end is, rather than after their hold.
  virtual void watch_ending(core::WatchId /*watch*/) {}
  // Hits the delivery could not pass on (reported on stderr and in the JSON summary).
  virtual std::uint64_t lost() const { return 0; }
  // End of the session: warnings about lost or uncounted hits (stderr).
  virtual void warn_lost() const {}
};

}  // namespace hwbp::cli
