// The watches of one traced process as the user asked for them: spec -> resolved range
// (symbols, PIE and libraries), state, reported hits and coverage. Nothing here touches the
// kernel: slot_arming.hpp arms watches on debug registers, a delivery (delivery.hpp) brings their
// hits, the acceptance path (hit_acceptance.hpp) counts and reports them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/arch.hpp"
#include "core/coverage_clock.hpp"
#include "core/engine_choice.hpp"
#include "core/request.hpp"
#include "core/watch_id.hpp"
#include "symbols/data_access.hpp"
#include "symbols/frame_variable.hpp"
#include "symbols/symbol_table.hpp"
#include "symbols/typed_value.hpp"
#include "watch_spec.hpp"

namespace hwbp::cli {

using core::WatchId;

struct Watch {
  enum class State : std::uint8_t { pending, armed, dropped };
  WatchId id;
  WatchSpec spec;
  State state = State::pending;
  std::string unresolved_reason;  // last resolution failure (for the final error)
  std::string label;              // "counter", "table+0x10", "cfg.retries" or "0x7ffd1234"
  std::string type;               // an expression's type as GDB prints it ("int"), else empty
  bool pointer_read = false;      // the expression followed a pointer, read when it was resolved
  bool in_frame = false;          // a parameter or local of the --at frame: ends when it returns
  // How its bytes print (typed values, the member a hit wrote); null where no type is known
  // (an address, NAME+OFFSET, no DWARF, a length other than the type's).
  std::shared_ptr<const symbols::ValueLayout> layout;
  std::string served_by;          // what serves it, when a command says (hwbp vm: "debug register DR0")
  std::uint64_t addr = 0;
  std::size_t len = 0;            // 0 until resolved
  std::uint64_t hits = 0;         // reported hits
  // Hits the kernel counted that never reached hwbp (ptrace mode: a thread that blocks SIGTRAP).
  std::uint64_t lost = 0;
  bool rotating = false;          // --flexible: takes turns on the rotation pool
  core::CoverageClock clock;      // armed time / watched time
  // What serves it (core::choose_engine, decided when it is armed) and why; nullopt until then.
  std::optional<core::Mechanism> mechanism;
  core::EngineReason engine_reason = core::EngineReason::requested;
  std::string engine_note;  // core::EngineChoice::note (e.g. why int3 and not a uprobe)
  // A software engine (uprobe, int3) took it on, for all of the time from now; or let it go.
  void mark_armed_always(core::CoverageClock::Clock::time_point now) {
    state = State::armed;
    clock.set_watched(true, now);
    clock.set_armed(true, now);
  }
  void mark_disarmed(core::CoverageClock::Clock::time_point now) {
    clock.set_armed(false, now);
    clock.set_watched(false, now);
    if (state == State::armed) state = State::dropped;
  }
  // Why debug registers can never serve it (longer than a range watch may be), "" if they can;
  // the page engine can (auto then uses it).
  std::string hw_refusal;

  double coverage() const { return clock.coverage(core::CoverageClock::Clock::now()); }
  core::WatchRequest request() const { return {addr, len, spec.access}; }
  bool resolved() const noexcept { return len != 0; }
  // Resolved and not an execute breakpoint: has bytes that accesses read and write.
  bool is_data() const noexcept {
    return state != State::pending && resolved() && spec.access != Access::exec;
  }
};

class WatchSet {
 public:
  explicit WatchSet(std::vector<WatchSpec> specs, core::ArchInfo arch = core::host_arch());

  std::vector<Watch>& all() noexcept { return watches_; }
  const std::vector<Watch>& all() const noexcept { return watches_; }
  Watch& at(WatchId id) { return watches_.at(id.value); }
  const Watch& at(WatchId id) const { return watches_.at(id.value); }
  bool contains(WatchId id) const noexcept { return id.value < watches_.size(); }
  const core::ArchInfo& arch() const noexcept { return arch_; }

  // Resolves pending watches against the image. A name that no module defines stays pending
  // (a library may load it later); other problems (ambiguous name, bad range, size unknown)
  // throw hwbp::Error naming the watch.
  void resolve(const symbols::SymbolTable& table);
  // Whether the target's pointers hold their final values: not at the exec stop, where the
  // dynamic loader has not relocated the program yet (a PIE's pointers are file offsets then).
  // Expressions that follow a pointer (p->f, *p) stay pending while this is false.
  void set_pointers_readable(bool readable) { pointers_readable_ = readable; }
  // Watches still to resolve now: none while deferred (--at: they wait for that stop).
  bool any_pending() const;
  // --at: no watch is resolved until the program reaches the location (set_deferred(false)).
  void set_deferred(bool deferred) { deferred_ = deferred; }
  bool deferred() const noexcept { return deferred_; }
  // The stopped thread's frame whose parameters and locals names may be (--at), while set.
  void set_frame(const symbols::StoppedFrame* frame) { frame_ = frame; }
  // Resolved watches that are not armed yet, in command-line order.
  std::vector<WatchId> ready_to_arm() const;
  // After execve: the address space is new. Watches by name go back to pending (re-resolved in
  // the new program); address watches are dropped.
  void reset_after_exec();

  // Does watch `id` share bytes with another resolved data watch?
  bool overlaps_another(WatchId id) const;
  // Would `accesses` (one instruction's) trigger w's hardware breakpoint type on w's bytes?
  // (Value filters such as modify apply later.)
  bool triggered_by(const Watch& w, const std::vector<symbols::DataAccess>& accesses) const;

 private:
  void resolve_one(Watch& w, const symbols::SymbolTable& table);

  core::ArchInfo arch_;
  std::vector<Watch> watches_;
  bool pointers_readable_ = true;
  bool deferred_ = false;
  const symbols::StoppedFrame* frame_ = nullptr;
};

}  // namespace hwbp::cli
