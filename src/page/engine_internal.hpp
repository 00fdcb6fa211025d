// The in-process engine's shared state, for engine.cpp and syscall_dispatch.cpp only.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>

#include "core/page_set.hpp"
#include "page/engine.hpp"

namespace hwbp::page::detail {

// Largest store (or string-instruction batch) resolved at once.
inline constexpr std::size_t kBufferBytes = 256 * 1024;
// Nested resolutions (a callback storing into watched memory) with their own buffers.
inline constexpr int kMaxDepth = 3;

struct Buffers {
  std::uint8_t old_bytes[kBufferBytes];
  std::uint8_t new_bytes[kBufferBytes];
};

struct Watch {
  std::uint64_t id = 0;
  PageWatchOptions options;
  std::atomic<std::uint64_t> hits{0};
  std::atomic<bool> alive{true};
};

// A single-step in flight (displaced, or the last resort in place); at most one, under the lock.
struct Step {
  enum class Kind { displaced, in_place };
  bool active = false;
  Kind kind = Kind::displaced;
  pid_t tid = 0;
  std::uint64_t pc = 0, resume = 0, expect_rip = 0;
  std::uint64_t addr = 0, len = 0, data = 0;
  sigset_t saved_mask;
  std::uint8_t snapshot[4096];
};

struct AtomicStats {
  std::atomic<std::uint64_t> emulated{0}, displaced{0}, last_resort{0}, kernel_writes{0}, unwatched{0},
      foreign_faults{0}, unprotected_syscalls{0};
};

struct State {
  core::PageSet set;
  std::map<std::uint64_t, std::shared_ptr<Watch>> watches;  // disarmed ones stay, not alive
  std::atomic<bool> active{false};                           // some watch is armed
  bool forked_child = false;
  std::uint64_t scratch_code = 0, scratch_data = 0;
  // What the scratch code page holds (the last displaced instruction), under the lock.
  std::uint8_t scratch_code_bytes[32] = {};
  std::size_t scratch_code_length = 0;
  Step step;
  Buffers buffers[kMaxDepth];
  AtomicStats stats;
};

State& state() noexcept;
// The engine lock (recursive per thread). Handlers take it with lock(tid); normal-context code
// blocks signals first.
void lock(pid_t me) noexcept;
void unlock() noexcept;
extern std::atomic<pid_t> g_owner;
extern int g_depth;

// Reports [addr, addr + len) going from old to new bytes to the watches it touches (lock held).
// `exact`: PageHit::exact (false where the page was writable while the store ran).
void report(std::uint64_t addr, std::uint64_t len, const std::uint8_t* old_bytes, const std::uint8_t* new_bytes,
            std::uint64_t pc, std::uint64_t next_ip, const char* syscall, void* uc, bool exact) noexcept;
// Ends the watches with a byte in [addr, addr + len): their memory is going away (lock held).
void end_watches(std::uint64_t addr, std::uint64_t len, const char* syscall, std::uint64_t pc) noexcept;

// The syscall layer (syscall_dispatch.cpp), from engine.cpp in normal context: set up once;
// then intercept every thread's system calls while any page watch is armed.
void prepare_syscall_dispatch();
void intercept_syscalls(bool on);
// Locked section for normal-context callers (signals blocked, engine lock held).
pid_t engine_tid() noexcept;
// The displaced step's trap (from the library's SIGTRAP handler).
bool handle_sigtrap(siginfo_t* si, void* uc) noexcept;

}  // namespace hwbp::page::detail
