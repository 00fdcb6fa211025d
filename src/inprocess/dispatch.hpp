// What the SIGTRAP handler reads: per slot, an immutable snapshot of the watches listening on
// it, swapped RCU-style by the (mutex-holding) writer, plus the chunk's value shadow.
// Everything the handler touches here is lock-free and async-signal-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/split.hpp"
#include "hwbp/hwbp.hpp"

namespace hwbp::inprocess {

struct Subscriber {
  std::uint64_t watch_id;
  Access access;
  const Callback* callback;  // null or empty: counting only
  const std::atomic<bool>* enabled;
  std::atomic<std::uint64_t>* hits;
};

struct SlotDispatch {
  std::uint32_t generation = 0;
  core::Chunk chunk;
  // A read-write slot would trap again if the handler loaded the bytes itself, so it reads them
  // through the kernel (process_vm_readv runs in kernel mode, which exclude_kernel ignores).
  bool read_via_kernel = false;
  bool needs_values = false;
  // The slot watches one thread: its stores are the only ones that trap, and each is handled
  // before that thread's next instruction, so the bytes read and the shadow are exact.
  bool one_writer = false;
  std::vector<Subscriber> subscribers;
};

// Reads `len` (1/2/4/8) bytes at addr as a little-endian integer.
std::uint64_t load_chunk(std::uintptr_t addr, unsigned len, bool via_kernel) noexcept;

class DispatchTable {
 public:
  // 63 debug-register slots: bit 63 of the active indicator (hwbp::active()) stands for the
  // watches served by page protection and uprobes (Registry::kSoftwareActiveBit).
  static constexpr int kCapacity = 63;

  // The shadow's state: core::ShadowState (core/value_shadow.hpp has the rule) plus kWriting, the
  // two stores of confirm_shadow(). A value read before the slot is armed may miss a write that
  // lands between the read and the arming (another thread, untrapped); it is only *tentative*
  // until confirm_shadow() proves, with the kernel's hit count, that no trapped access came
  // between arming and a second read. A hit on a tentative shadow reports its old value as unknown.
  enum ShadowState : std::uint32_t { kInvalid = 0, kConfirmed = 1, kTentative = 2, kWriting = 3 };
  struct Slot {
    std::atomic<SlotDispatch*> dispatch{nullptr};
    std::atomic<std::uint64_t> shadow{0};
    std::atomic<std::uint32_t> shadow_state{kInvalid};
  };

  ~DispatchTable();

  // Handler side.
  Slot& slot(int index) noexcept { return slots_[index]; }
  void enter() noexcept { in_flight_.fetch_add(1, std::memory_order_seq_cst); }
  void leave() noexcept { in_flight_.fetch_sub(1, std::memory_order_release); }

  // Writer side (under the registry mutex): installs `next` (may be null) and frees the previous
  // snapshot once no handler can still be reading it.
  void publish(int index, std::unique_ptr<SlotDispatch> next);
  // Waits until no handler is running (grace period). Also used before freeing watch records.
  void synchronize() const noexcept;
  // Reads the chunk into the shadow before the slot is armed on it. `confirmed`: nothing else
  // can write the chunk meanwhile (the arming thread is the only watched writer), so the value
  // is final; otherwise it is tentative until confirm_shadow().
  void refresh_shadow(int index, const core::Chunk& chunk, bool via_kernel, bool confirmed) noexcept;
  // After arming: reads the chunk again; if the bytes are those refresh_shadow() read before
  // arming and no hit handler took the shadow meanwhile (its state is still tentative: the
  // handler is the library's evidence of a hit, see core/value_shadow.hpp), the value is the
  // one at arming time and becomes the confirmed shadow. The handler of a hit that races this
  // call wins the compare-and-swap.
  void confirm_shadow(int index, const core::Chunk& chunk, bool via_kernel) noexcept;
  // Handler side: the old value and whether it is exact; installs `new_value`.
  static std::uint64_t swap_shadow(Slot& slot, std::uint64_t new_value, bool& old_known) noexcept;

 private:
  Slot slots_[kCapacity];
  std::atomic<int> in_flight_{0};
};

DispatchTable& dispatch_table() noexcept;

}  // namespace hwbp::inprocess
