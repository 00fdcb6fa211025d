// hwbp: hardware breakpoints and watchpoints for Linux, over perf events.
//
//   static long counter;
//   hwbp::Watch w = hwbp::watch({.addr = reinterpret_cast<std::uintptr_t>(&counter),
//                                .len = sizeof counter,
//                                .callback = [](const hwbp::Hit& h) { /* signal context! */ }});
//
// A watch is armed on real debug registers through perf_event_open(PERF_TYPE_BREAKPOINT) and
// each hit is delivered synchronously, as a SIGTRAP in the thread that made the access, to the
// callback. Where the debug registers cannot serve a watch (the machine delivers no debug
// exceptions, or the watch does not fit the free slots) it is served by page protection (stores:
// w, modify; any length, any number) or a uprobe (exec), with the same handle and the same Hit
// (WatchOptions::engine, Watch::mechanism(); docs/semantics.md "Engines").
// Callbacks run in signal context: only async-signal-safe work (hwbp/signal_safe.hpp).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hwbp/error.hpp"
#include "hwbp/types.hpp"

namespace hwbp {

// Which threads a watch covers.
struct Target {
  enum class Kind : std::uint8_t { process, thread, cpus };
  Kind kind = Kind::process;
  pid_t tid = 0;

  // Every thread of this process: those that exist now and every thread created later.
  static Target process() noexcept { return {Kind::process, 0}; }
  // One thread of this process (not the threads it creates later).
  static Target thread(pid_t tid) noexcept { return {Kind::thread, tid}; }
  // The calling thread.
  static Target this_thread() noexcept;
  // Every task on every CPU (CPU-bound events; needs CAP_PERFMON or perf_event_paranoid <= 0).
  // Counting only — the kernel sends no signal for CPU-bound events — and admitted by the
  // kernel's rule: it takes one slot from every thread on the machine. Kernel addresses are
  // allowed (kernel-mode hits need CAP_SYS_ADMIN).
  static Target all_cpus() noexcept { return {Kind::cpus, 0}; }
};

// Which engine the caller wants for a watch (WatchOptions::engine).
//  - automatic: the debug registers where they deliver hits and the watch fits the free slots;
//    otherwise page protection for stores (w, modify) and a uprobe for exec (needs root).
//  - hardware: the debug registers only (refused where debug exceptions are not delivered).
//  - page: the software mechanisms only: page protection for stores, a uprobe for exec.
enum class Engine : std::uint8_t { automatic, hardware, page };

// The mechanism that serves a watch (Watch::mechanism(), Hit::mechanism).
//  - debug_registers: perf breakpoint events; a data hit traps after the access.
//  - page_protection: the watched pages are read-only and every store to them is completed by
//    hwbp's SIGSEGV handler (src/page, docs/page-engine.md): exact old/new bytes of any length.
//  - uprobe: an exec watch through the kernel's uprobe PMU (a perf event with sigtrap).
enum class Mechanism : std::uint8_t { debug_registers, page_protection, uprobe };
// "debug registers", "page protection", "uprobe".
const char* to_string(Mechanism mechanism) noexcept;
const char* to_string(Engine engine) noexcept;  // "auto", "hw", "page"

// One delivered hit. Valid only during the callback.
struct Hit {
  std::uint64_t watch_id = 0;
  pid_t tid = 0;               // the thread that made the access
  std::uintptr_t addr = 0;     // start of the watched chunk that fired (hardware does not
                               // report the exact byte touched)
  std::size_t len = 0;         // length of that chunk (1, 2, 4 or 8)
  std::uintptr_t ip = 0;       // for data hits on x86, the instruction *after* the access
  Access access = Access::write;  // the watch's access kind
  bool has_values = false;     // old_value/new_value are meaningful (write, modify, read)
  bool old_known = true;       // false when the shadow was not yet valid (see docs/semantics.md)
  std::uint64_t old_value = 0; // the chunk's bytes before the access (little-endian, zero-extended)
  std::uint64_t new_value = 0; // the chunk's bytes after it, read in the handler
  bool async = false;          // SIGTRAP was blocked: delivered late, values may not be exact
  void* context = nullptr;     // ucontext_t* of the interrupted thread
  // ---- added with the page engine and uprobes (issue 15) ----
  // For page-protection hits, addr/len are the watched bytes the store touched (any length: a
  // store over several chunks of one watch is one hit), old_value/new_value their first
  // min(len, 8) bytes, and `ip` is where the thread resumes, as for a hardware hit.
  Mechanism mechanism = Mechanism::debug_registers;
  // The accessing instruction where it is known: page protection, the storing instruction; uprobe,
  // the probed instruction (which has run: `ip` is the next one); debug registers, the same as
  // `ip` (a data hit traps after the access, which x86 does not name; an exec hit before it).
  std::uintptr_t pc = 0;
  // The bytes before and after the access, `len` of them (page protection: any length; debug
  // registers: the chunk), with the same values and exactness as old_value/new_value (below).
  // Null when not known (no values, or old_known false). Valid only during the callback.
  const std::uint8_t* old_bytes = nullptr;
  const std::uint8_t* new_bytes = nullptr;
  // Page protection: the system call through which the kernel made the store on the program's
  // behalf (read(2) into the watched buffer: "read"), else null.
  const char* syscall = nullptr;
  // ---- added with exact values under racing writers (issue 17) ----
  // The value is exactly the bytes before / after *this* access, even if other threads wrote
  // them at the same time (docs/semantics.md, "Racing writers"). Page protection: always both
  // (the engine completes the store itself, one thread at a time). Debug registers: new_value
  // comes from the instruction and the registers at the trap (mov, cmpxchg...) or, for a watch
  // of one thread, from the bytes; old_value from the instruction (xchg, xadd, cmpxchg) or, for
  // a watch of one thread, from old_known's rule. False: the value is the best known (the bytes
  // read in the handler, the shadow), not proven.
  bool old_exact = false;
  bool new_exact = false;
};

// A watch whose memory went away (munmap, mremap, madvise(MADV_DONTNEED), ...): only the page
// engine sees this (debug registers keep watching the address). The watch stays valid but is
// no longer armed; retarget() arms it again.
struct WatchEnd {
  std::uint64_t watch_id = 0;
  pid_t tid = 0;               // the thread that made the system call
  std::uintptr_t pc = 0;       // where it made it
  const char* syscall = "";    // "munmap", "mremap", "madvise", ...
};
using EndCallback = std::function<void(const WatchEnd&)>;

// Runs in signal context in the accessing thread. Must not call hwbp API functions that change
// the watch set (arm, remove, enable, disable, retarget) and must be async-signal-safe.
using Callback = std::function<void(const Hit&)>;

// Fill by field name (designated initializers, as below): new fields are added at the end with
// defaults that keep today's behaviour.
struct WatchOptions {
  std::uintptr_t addr = 0;
  std::size_t len = 0;          // any length: ranges are split into hardware-sized chunks
  Access access = Access::modify;
  Target target = Target::process();
  Callback callback;            // empty: counting mode (hits() only)
  bool enabled = true;
  // Flexible watches share the slots pinned watches leave free, taking turns (time slices,
  // see set_rotation_interval()); each is moved in place with the modify ioctl. A pinned watch
  // (the default) never rotates and takes priority: arming one may shrink the rotation.
  // Hits while a flexible watch is armed are exact; coverage() says how much of the time it was.
  bool flexible = false;
  // Which engine serves the watch (see Engine); Watch::mechanism() says which one did and why.
  Engine engine = Engine::automatic;
  // Called (in signal context, in the thread that made the system call) when the watch's memory
  // goes away. Page protection only; may be empty.
  EndCallback on_end;
};

// A chunk of a watch and the slot that holds it (for diagnostics and tests).
struct ChunkInfo {
  std::uintptr_t addr;
  std::size_t len;
  int slot;         // index in the library's slot table
  unsigned shared;  // how many watches use that slot
};

// RAII handle of an armed watch. Destroying it removes the watch.
class Watch {
 public:
  Watch() = default;
  Watch(Watch&& other) noexcept;
  Watch& operator=(Watch&& other) noexcept;
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
  ~Watch();

  bool valid() const noexcept { return id_ != 0; }
  std::uint64_t id() const noexcept { return id_; }
  void enable();
  void disable();
  bool enabled() const;
  // Moves the watch to another address (and length) in place, with the modify ioctl where the
  // watch owns its slots alone; otherwise arms the new range and then drops the old one.
  // On failure the watch is unchanged.
  void retarget(std::uintptr_t addr);
  void retarget(std::uintptr_t addr, std::size_t len);
  // Hits delivered (after 'modify'/'read' filtering); in counting mode, the kernel's count.
  std::uint64_t hits() const;
  // Debug-register chunks and their slots; slot -1: a flexible watch not armed right now. Empty
  // for a watch served by page protection or a uprobe (no debug-register slots).
  std::vector<ChunkInfo> chunks() const;
  // The mechanism serving the watch, and why it was chosen ("debug exceptions are not delivered
  // here", "does not fit the free debug-register slots", "requested", ...).
  Mechanism mechanism() const;
  const char* mechanism_reason() const;
  // One line: "page protection (debug exceptions are not delivered here)".
  std::string describe() const;
  // Fraction of the time since arming during which the watch was armed (1.0 for a pinned,
  // enabled watch and for page-protection and uprobe watches; less for flexible watches,
  // disabled periods and a watch whose memory went away). Report it next to
  // hits: "0 hits" means little at low coverage.
  double coverage() const;
  // Removes the watch now (also done by the destructor). Never throws.
  void remove() noexcept;

 private:
  friend Watch watch(const WatchOptions& options);
  explicit Watch(std::uint64_t id) noexcept : id_(id) {}
  std::uint64_t id_ = 0;
};

// Arms a watch; all of it or nothing. Throws hwbp::Error.
Watch watch(const WatchOptions& options);

// Watches one variable; for other options, fill WatchOptions by field name.
template <class T>
Watch watch(T& variable, Access access, Callback callback = {}, Target target = Target::process()) {
  return watch(WatchOptions{.addr = reinterpret_cast<std::uintptr_t>(&variable),
                            .len = sizeof(T),
                            .access = access,
                            .target = target,
                            .callback = std::move(callback)});
}

// Slots needed by a request after splitting (before sharing), without arming. Throws on bad input.
std::size_t slots_needed(std::uintptr_t addr, std::size_t len, Access access);
// Debug-register slots one thread can hold on this machine (probed once).
unsigned slots_per_thread();

// Time slice of the flexible-watch rotation (default 5 ms; at least 100 us).
void set_rotation_interval(std::chrono::microseconds interval);

namespace detail {
// One bit per armed slot; written only by the library (see src/core/active.hpp for the order).
extern std::atomic<std::uint64_t> g_armed_slots;
}  // namespace detail

// The hot-path check: is any watch armed? One acquire load: lock-free, O(1), async-signal-safe.
// Raised before an event can fire, lowered only after it can no longer fire, so it never says
// "inactive" while a hit can still arrive (it may say "active" briefly after the last disarm).
inline bool active() noexcept {
  return detail::g_armed_slots.load(std::memory_order_acquire) != 0;
}

}  // namespace hwbp
