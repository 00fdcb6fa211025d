#include "inprocess/dispatch.hpp"

#include <sched.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>

#include "core/value_shadow.hpp"
#include "inprocess/safe_read.hpp"

namespace hwbp::inprocess {

std::uint64_t load_chunk(std::uintptr_t addr, unsigned len, bool via_kernel) noexcept {
  std::uint64_t value = 0;
  if (via_kernel) {
    iovec local{&value, len};
    iovec remote{reinterpret_cast<void*>(addr), len};
    if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != static_cast<ssize_t>(len)) return 0;
    return value;
  }
  // Chunks are naturally aligned, so one load of the chunk's width reads it atomically.
  switch (len) {
    case 1: return __atomic_load_n(reinterpret_cast<const std::uint8_t*>(addr), __ATOMIC_RELAXED);
    case 2: return __atomic_load_n(reinterpret_cast<const std::uint16_t*>(addr), __ATOMIC_RELAXED);
    case 4: return __atomic_load_n(reinterpret_cast<const std::uint32_t*>(addr), __ATOMIC_RELAXED);
    case 8: return __atomic_load_n(reinterpret_cast<const std::uint64_t*>(addr), __ATOMIC_RELAXED);
    default: std::memcpy(&value, reinterpret_cast<const void*>(addr), len > 8 ? 8 : len);
  }
  return value;
}

DispatchTable::~DispatchTable() {
  for (Slot& s : slots_) delete s.dispatch.exchange(nullptr);
}

void DispatchTable::publish(int index, std::unique_ptr<SlotDispatch> next) {
  SlotDispatch* old = slots_[index].dispatch.exchange(next.release(), std::memory_order_seq_cst);
  if (old != nullptr) {
    synchronize();
    delete old;
  }
}

void DispatchTable::synchronize() const noexcept {
  // A handler that loaded the old pointer has already incremented in_flight_ (it enters before
  // loading), so once the count is seen at zero after the exchange no reader holds `old`.
  while (in_flight_.load(std::memory_order_seq_cst) != 0) sched_yield();
}

namespace {

bool read_chunk(const core::Chunk& chunk, bool via_kernel, std::uint64_t& value) {
  // An address that is not mapped (yet) gives an unknown old value, never a crash. A
  // read-write chunk is read through the kernel: a direct load could trip another watch on
  // the same bytes and be reported as the program's access.
  if (!via_kernel) return read_user_chunk(chunk.addr, chunk.len, value);
  iovec local{&value, chunk.len};
  iovec remote{reinterpret_cast<void*>(chunk.addr), chunk.len};
  return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(chunk.len);
}

}  // namespace

void DispatchTable::refresh_shadow(int index, const core::Chunk& chunk, bool via_kernel,
                                   bool confirmed) noexcept {
  Slot& s = slots_[index];
  std::uint64_t value = 0;
  bool ok = read_chunk(chunk, via_kernel, value);
  s.shadow.store(value, std::memory_order_relaxed);
  s.shadow_state.store(!ok ? kInvalid : confirmed ? kConfirmed : kTentative,
                       std::memory_order_release);
}

void DispatchTable::confirm_shadow(int index, const core::Chunk& chunk, bool via_kernel) noexcept {
  Slot& s = slots_[index];
  // refresh_shadow() left the bytes read before arming, tentative, unless a handler ran since.
  if (s.shadow_state.load(std::memory_order_acquire) != kTentative) return;
  const std::uint64_t before_arming = s.shadow.load(std::memory_order_relaxed);
  std::uint64_t value = 0;
  core::ShadowEvidence evidence;
  evidence.read_ok = read_chunk(chunk, via_kernel, value);
  evidence.hit_seen = false;  // a handler that ran makes the compare-and-swap below fail
  evidence.unchanged_across_arming = value == before_arming;
  // Not confirmed: stays tentative, and the next hit says its old value is unknown.
  if (core::shadow_state(evidence) != core::ShadowState::confirmed) return;
  std::uint32_t expected = kTentative;
  // A handler that already ran installed a real value and state confirmed: keep it.
  if (!s.shadow_state.compare_exchange_strong(expected, kWriting, std::memory_order_acq_rel))
    return;
  s.shadow.store(value, std::memory_order_relaxed);
  s.shadow_state.store(kConfirmed, std::memory_order_release);
}

std::uint64_t DispatchTable::swap_shadow(Slot& slot, std::uint64_t new_value, bool& old_known) noexcept {
  std::uint32_t state = slot.shadow_state.load(std::memory_order_acquire);
  // kWriting lasts two stores on the confirming thread; yield if that thread was preempted.
  while (state == kWriting) {
    sched_yield();
    state = slot.shadow_state.load(std::memory_order_acquire);
  }
  std::uint64_t old = slot.shadow.exchange(new_value, std::memory_order_acq_rel);
  old_known = state == kConfirmed;
  if (state != kConfirmed) slot.shadow_state.store(kConfirmed, std::memory_order_release);
  return old;
}

DispatchTable& dispatch_table() noexcept {
  // Never destroyed: a late signal may arrive during exit.
  static DispatchTable* table = new DispatchTable();
  return *table;
}

}  // namespace hwbp::inprocess
