// The watches of one traced process: user specs -> resolved ranges -> exact chunks -> one perf
// event per (thread, chunk), plus each watch's shadow copy of its bytes (the "old" value).
//
// Events: pid = TID, cpu = -1, inherit + inherit_thread (threads created later get a copy from
// the kernel; fork children do not), sigtrap (a synchronous SIGTRAP that the tracer intercepts),
// remove_on_exec (required by sigtrap; exec drops them), exclude_kernel (perf_event_paranoid 2;
// writes the kernel makes on the program's behalf, e.g. read(2) into the variable, are not seen).
// sig_data = kTag | generation << 16 | slot: identifies our SIGTRAPs among the program's own.
// The generation is 0 for pinned slots; a rotation slot gets a new one each time it moves to
// another chunk, so that a SIGTRAP still in flight from the previous chunk is recognised.
//
// --flexible: watches that do not fit take turns on the slots the pinned ones leave free (the
// rotation pool), a whole watch at a time, moved in place with PERF_EVENT_IOC_MODIFY_ATTRIBUTES
// (the inherited copies in all threads follow). Each watch keeps a coverage clock.
//
// Identical chunks of different watches share one slot (core::SlotTable); every thread carries
// every slot, so the budget is 4 chunks in total (x86), whatever the number of threads.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/arch.hpp"
#include "core/slot_table.hpp"
#include "core/watch_spec.hpp"
#include "perf/event.hpp"
#include "symbols/data_access.hpp"
#include "symbols/process_image.hpp"
#include "symbols/symbol_table.hpp"

namespace hwbp::bpf {
class HitProgram;
}

namespace hwbp::cli {

struct Watch {
  enum class State : std::uint8_t { pending, armed, dropped };
  core::WatchSpec spec;
  State state = State::pending;
  std::string unresolved_reason;  // last resolution failure (for the final error)
  std::string label;              // "counter", "table+0x10" or "0x7ffd1234"
  std::uint64_t addr = 0;
  std::size_t len = 0;
  std::vector<std::uint8_t> shadow;  // last known bytes; empty if unreadable
  std::vector<int> slots;            // slot-table entries of this watch's chunks
  std::uint64_t hits = 0;            // reported hits
  bool rotating = false;             // --flexible: takes turns on the rotation pool
  // The shadow was re-read when the watch took its turn while a write may have raced the read:
  // the next hit reports "old unknown" rather than a possibly wrong value.
  bool old_unknown = false;

  // Coverage: time armed / time watched (a rotating watch is watched but not always armed).
  using Clock = std::chrono::steady_clock;
  Clock::duration armed_time{}, watched_time{};
  std::optional<Clock::time_point> armed_since, watched_since;
  void set_armed(bool on, Clock::time_point now);
  void set_watched(bool on, Clock::time_point now);
  double coverage() const;
};

class WatchSet {
 public:
  static constexpr std::uint64_t kTag = 0x6877627000000000ull;  // "hwbp" in the high bits
  static constexpr std::uint64_t kSlotMask = 0xffff;
  static constexpr std::uint64_t kGenerationMask = 0xffff0000ull;

  WatchSet(pid_t pid, std::vector<core::WatchSpec> specs);
  // BPF delivery: watch events carry `program` (no SIGTRAP, the program is never stopped);
  // each hit copies stack_bytes of user stack. Must be set before the first arm. The loader
  // hook keeps its SIGTRAP: arming library watches needs the program stopped.
  // count_only: hits are counted per (watch, ip) in the kernel, no records (--count).
  void set_bpf(bpf::HitProgram* program, std::uint32_t stack_bytes, bool count_only) {
    bpf_ = program;
    bpf_stack_bytes_ = stack_bytes;
    bpf_count_only_ = count_only;
  }
  bool bpf() const noexcept { return bpf_ != nullptr; }
  // --flexible: watches that do not fit rotate, one time slice each.
  void set_flexible(std::chrono::milliseconds slice) { slice_ = slice; }
  bool flexible() const noexcept { return slice_.count() > 0; }

  std::vector<Watch>& watches() noexcept { return watches_; }
  const std::vector<Watch>& watches() const noexcept { return watches_; }
  pid_t pid() const noexcept { return pid_; }

  // Resolves pending watches against the image. A name that no module defines stays pending
  // (a library may load it later); other problems (ambiguous name, bad range, size unknown)
  // throw hwbp::Error naming the watch.
  void resolve(const symbols::SymbolTable& table);
  bool any_pending() const;
  // Arms every resolved watch that is not armed yet, on every thread (all-or-nothing per
  // watch). Throws hwbp::Error: not enough slots (with the count needed vs available), perf
  // errors (permission with the setting to change). With --flexible, watches that do not fit
  // join the rotation instead (a watch larger than the rotation pool still throws).
  void arm_resolved();

  // Rotation (--flexible). The watches that rotate, in command-line order; the pool's size.
  const std::vector<int>& rotating() const noexcept { return rotating_; }
  std::size_t rotation_slots() const noexcept { return pool_.size(); }
  std::chrono::milliseconds slice() const noexcept { return slice_; }
  // When the next turn is due (nullopt: nothing rotates).
  std::optional<Watch::Clock::time_point> next_rotation() const;
  // One time slice: the next watches in round-robin order take the pool's slots.
  void rotate();
  // An execute breakpoint on the dynamic loader's debugger hook (_dl_debug_state).
  void arm_loader_hook(std::uint64_t addr);
  void disarm_loader_hook();
  bool loader_hook_armed() const noexcept { return loader_slot_ >= 0; }

  static bool is_tagged(std::uint64_t sig_data) noexcept {
    return (sig_data & ~(kSlotMask | kGenerationMask)) == kTag;
  }
  bool is_loader_hit(std::uint64_t sig_data) const noexcept;
  // The watches a slot serves (indexes into watches()); empty for a slot not in use, and for a
  // rotation slot's SIGTRAP from an earlier turn (other generation, or si_addr = trap-time
  // breakpoint address not the chunk now in the slot; 0 = unknown, not compared).
  std::vector<int> watches_of(std::uint64_t sig_data, std::uint64_t trap_addr) const;

  // One instruction's hits on several slots arrive as one SIGTRAP (ptrace mode), and a BPF
  // event copy without its cookie cannot tell watches at one address apart (hit_record.h):
  // both are settled with the instruction's data accesses (symbols/data_access.hpp).
  // Does watch `index` share bytes with another resolved watch? (If not, nothing to settle.)
  bool overlaps_another(int index) const;
  // The watches on the hardware now that `accesses` triggered.
  std::vector<int> touched_on_hardware(const std::vector<symbols::DataAccess>& accesses) const;

  // Re-reads a watch's bytes (nullopt if unreadable).
  std::optional<std::vector<std::uint8_t>> read_bytes(const Watch& w) const;

  // Closes every event (and with it the kernel's inherited copies in all threads).
  void close_all();
  // After execve: the events are gone (remove_on_exec) and the address space is new. Symbol
  // watches go back to pending (re-resolved in the new program); address watches are dropped.
  void reset_after_exec(pid_t pid);

 private:
  struct SlotEvents {
    std::vector<perf::Event> events;  // one per thread opened explicitly
    std::vector<int> watches;
  };
  // Would `accesses` have triggered w's hardware breakpoint type on w's bytes?
  bool touched(const Watch& w, const std::vector<symbols::DataAccess>& accesses) const;
  void resolve_one(Watch& w, const symbols::SymbolTable& table);
  void arm_one(int index);
  // Opens the slots on every thread of the process, re-scanning /proc/PID/task until no new
  // thread appears (perf-breakpoint-api.md 7); enables them only when all opened.
  void open_on_all_threads(const std::vector<int>& slots, const std::vector<core::SlotKey>& keys,
                           bool sigtrap = false);
  // BPF delivery (no-ops without it): describe watch `index` to the program; map the chunk a
  // slot now watches to its watch (rotation: the new chunk is mapped before the move, and the
  // old one forgotten after it unless another slot still maps it).
  using BpfMapping = std::pair<core::Chunk, int>;  // (chunk, watch)
  void bpf_describe(int index);
  void bpf_map_slot(int slot, int watch, const core::Chunk& chunk);
  void bpf_forget(const BpfMapping& mapping);
  std::string budget_message(const Watch& w, std::size_t needed) const;
  std::vector<core::Chunk> chunks_of(const Watch& w) const;
  unsigned free_slots() const;
  // Rotation internals (watch_rotation.cpp).
  std::vector<int> choose_pinned(const std::vector<int>& todo) const;
  void join_rotation(const std::vector<int>& joining);
  void grow_pool(std::size_t want);
  void shrink_pool();
  std::vector<int> next_turn() const;
  void park_all(Watch::Clock::time_point now);
  void move_slot(int slot, int watch, const core::Chunk& chunk);
  std::int64_t slot_count(int slot) const;
  void take_turn(int index, std::vector<int>& slots, Watch::Clock::time_point now);
  // Reads the shadow of a watch armed while the program may run; `before` = the slots' hit
  // count taken before arming. Marks it unknown when a hit may have raced the read.
  void settle_shadow(int index, const std::vector<int>& slots, std::int64_t before);
  void clear_rotation(Watch::Clock::time_point now);

  pid_t pid_;
  core::ArchInfo arch_;
  core::SlotTable table_;
  std::vector<Watch> watches_;
  std::map<int, SlotEvents> slot_events_;
  int loader_slot_ = -1;
  bpf::HitProgram* bpf_ = nullptr;
  std::uint32_t bpf_stack_bytes_ = 0;
  bool bpf_count_only_ = false;
  std::map<int, BpfMapping> bpf_mapped_;  // slot -> (chunk, watch)

  // Rotation state. turns_: what each pool slot watches now (watch -1 = parked).
  struct Turn {
    int watch = -1;
    std::uint64_t addr = 0;
    std::uint16_t generation = 0;
  };
  std::chrono::milliseconds slice_{0};
  std::vector<int> rotating_;
  std::vector<int> pool_;
  std::map<int, Turn> turns_;
  std::size_t cursor_ = 0;
  std::uint16_t generation_ = 0;
  std::uint32_t rotation_ids_ = 0;
  std::optional<Watch::Clock::time_point> next_rotation_;
};

}  // namespace hwbp::cli
