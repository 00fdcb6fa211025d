// The layer's hot-path check: is any watch armed? One relaxed-or-acquire load, lock-free, O(1).
//
// Ordering follows the kernel's per-CPU cpu_dr7 shadow (arch/x86/kernel/hw_breakpoint.c):
// the indicator is raised *before* an event can fire and lowered only *after* it can no longer
// fire, so a reader never sees "inactive" while a hit can still arrive. It may over-report
// briefly, never under-report.
#pragma once

#include <atomic>
#include <cstdint>

namespace hwbp::core {

class ActiveIndicator {
 public:
  ActiveIndicator() noexcept : mask_(&own_) {}
  // Publishes into external storage, e.g. a global that an inline hot-path check reads
  // directly (hwbp::active() in the public header: one load, no call).
  explicit ActiveIndicator(std::atomic<std::uint64_t>& storage) noexcept : mask_(&storage) {}
  ActiveIndicator(const ActiveIndicator&) = delete;
  ActiveIndicator& operator=(const ActiveIndicator&) = delete;

  // Call before enabling slot `bit` (0..63) in hardware. seq_cst so the store is globally
  // visible before the enabling syscall.
  void raise(unsigned bit) noexcept;
  // Call after the slot is disabled in hardware (the disabling syscall has returned).
  void lower(unsigned bit) noexcept;
  bool active() const noexcept { return mask_->load(std::memory_order_acquire) != 0; }
  std::uint64_t mask() const noexcept { return mask_->load(std::memory_order_acquire); }

 private:
  std::atomic<std::uint64_t> own_{0};
  std::atomic<std::uint64_t>* mask_;
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

}  // namespace hwbp::core
