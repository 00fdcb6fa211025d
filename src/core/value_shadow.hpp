// The value shadow: a watch's bytes as the last hit (or the arming) left them, which becomes the
// "old" value of the next hit. Hardware reports that an access happened, never the bytes before
// it, so every delivery that reads bytes after the access keeps one (the library's signal
// handler per slot, the CLI's ptrace delivery per watch, the BPF program per watch in a map).
//
// The confirmation rule. The shadow is read while the program may run on: in another thread, a
// write can land between arming the slot and reading the bytes. That write traps (the slot is
// armed), and if the shadow already holds its result the next hit reports old == new — or a
// `modify` watch drops it as unchanged. Two kinds of evidence decide:
//  - A hit seen during the arming. The kernel's hit count of the watch's events is incremented
//    at the trap (kernel/events/hw_breakpoint.c: perf_bp_event -> perf_swevent_event), before
//    any signal handler, tracer or BPF record sees the hit; an engine whose own handler takes
//    the shadow at every hit (the library's SIGTRAP handler) sees it there too, for free.
//  - The bytes across the arming. A store is visible to other CPUs before its trap is counted
//    or handled: the debug exception is taken after the instruction retires (Intel SDM vol. 3,
//    "Data Memory and I/O Breakpoint Exception Conditions": data breakpoints are traps), and in
//    a virtual machine only after an exit to the
//    hypervisor — microseconds. So the bytes are also read just before arming, and must be the
//    same after: a trapped write that changed them shows in the bytes even before it shows
//    anywhere else. (A write that stored the same bytes is a same-value write either way.)
// Confirmed: the value read is the value at arming time. Otherwise the shadow stays unconfirmed
// and the next hit reports its old value as unknown: never a guess. The one case left is an
// A-B-A within the arming — an untrapped write before it undone by a trapped one whose hit is
// not yet seen — which the kernel's count narrows (the CLI reads it) and nothing closes short of
// stopping every writer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace hwbp::core {

enum class ShadowState : std::uint8_t {
  invalid,    // the bytes could not be read
  tentative,  // read, but a write may have raced the arming: the next hit's old is unknown
  confirmed,  // the bytes at arming time (or left by the last hit)
};

// What the arming code knows when it stores a shadow.
struct ShadowEvidence {
  bool read_ok = false;
  // Another thread may write the bytes while the slot is armed. False when the only writer is
  // the thread doing the arming (a watch of the calling thread) or the program is stopped.
  bool race_possible = true;
  // A hit on the watch's slots was seen between just before arming and just after the read:
  // their hit count moved, or the engine's own hit handler ran.
  bool hit_seen = false;
  // The bytes read just before arming equal those read after it.
  bool unchanged_across_arming = false;
};

constexpr ShadowState shadow_state(const ShadowEvidence& e) noexcept {
  if (!e.read_ok) return ShadowState::invalid;
  if (!e.race_possible) return ShadowState::confirmed;
  if (!e.hit_seen && e.unchanged_across_arming) return ShadowState::confirmed;
  return ShadowState::tentative;
}

// A shadow of any length, for deliveries that keep one per watch outside signal context.
// (The library's per-slot shadow is the lock-free variant of the same states: DispatchTable.)
class ValueShadow {
 public:
  using Bytes = std::vector<std::uint8_t>;

  // After arming: the bytes read and what the confirmation rule says about them.
  void arm(std::optional<Bytes> bytes, ShadowState state) {
    bytes_ = bytes ? std::move(*bytes) : Bytes{};
    state_ = bytes ? state : ShadowState::invalid;
  }
  // At a hit, with the bytes the access left (read while the writer cannot run: exact): returns
  // the old bytes, nullopt when not confirmed, and keeps `now` as the next hit's old value.
  std::optional<Bytes> exchange(std::optional<Bytes> now) {
    std::optional<Bytes> old;
    if (state_ == ShadowState::confirmed) old = std::move(bytes_);
    arm(std::move(now), ShadowState::confirmed);
    return old;
  }
  void forget() { arm(std::nullopt, ShadowState::invalid); }

  ShadowState state() const noexcept { return state_; }
  // The confirmed bytes, nullopt otherwise.
  std::optional<std::span<const std::uint8_t>> confirmed() const noexcept {
    if (state_ != ShadowState::confirmed) return std::nullopt;
    return std::span<const std::uint8_t>(bytes_);
  }

 private:
  Bytes bytes_;
  ShadowState state_ = ShadowState::invalid;
};

}  // namespace hwbp::core
