// Architecture descriptions as data (no syscalls). Mirrors what the kernel's arch layer
// accepts for PERF_TYPE_BREAKPOINT on each architecture.
#pragma once

#include <cstdint>
#include <vector>

#include "hwbp/types.hpp"

namespace hwbp::core {

// Generic breakpoint types, same values as <linux/hw_breakpoint.h> HW_BREAKPOINT_*.
enum class HwType : std::uint8_t { read = 1, write = 2, read_write = 3, exec = 4 };

// The kernel's find_slot_idx(): X is the instruction class, R/W/RW the data class.
// On architectures with one mixed pool both classes draw from the same slots.
enum class SlotClass : std::uint8_t { inst = 0, data = 1 };

SlotClass slot_class_of(HwType type) noexcept;
const char* to_string(HwType type) noexcept;

struct ArchInfo {
  ArchKind kind;
  const char* name;          // "x86-64", "aarch64"
  bool mixed_pool;           // x86: instruction and data breakpoints share one pool
  unsigned inst_slots;       // with mixed_pool, inst_slots == data_slots == pool size
  unsigned data_slots;
  bool has_read_only;        // x86: no read-only watch (emulated by the library)
  unsigned exec_len;         // bp_len perf demands for exec: sizeof(long) on x86-64, 4 on aarch64
  unsigned max_len;          // largest data chunk one slot covers (8)
  // x86: a chunk is 1/2/4/8 bytes naturally aligned.
  // aarch64: a chunk is any 1..8 contiguous bytes inside one aligned 8-byte granule
  //          (byte-address-select), so one slot per touched granule.
  bool byte_select;

  unsigned slots(SlotClass c) const noexcept { return c == SlotClass::inst ? inst_slots : data_slots; }
  // Number of distinct pools: 1 when mixed, 2 otherwise.
  unsigned pool_count() const noexcept { return mixed_pool ? 1u : 2u; }
  // Pool index of a class: 0 when mixed, else the class value.
  unsigned pool_of(SlotClass c) const noexcept { return mixed_pool ? 0u : static_cast<unsigned>(c); }
};

// Slots one thread has in each pool, pool by pool (arch.pool_count() values): what the slot
// table of every engine budgets a thread with.
std::vector<unsigned> slots_per_pool(const ArchInfo& arch);

// x86-64: one mixed pool of 4 slots; lengths 1/2/4/8 naturally aligned; no read-only; exec len 8.
ArchInfo arch_x86_64() noexcept;
// AArch64: separate pools; brps/wrps in 2..16 (values outside are clamped); byte-select lengths.
ArchInfo arch_aarch64(unsigned brps = 6, unsigned wrps = 4) noexcept;
// An x86 guest's debug registers as KVM_SET_GUEST_DEBUG programs them: 4 slots, execute
// breakpoints of length 1 (raw DR7 LEN 00, not perf's sizeof(long)), data chunks of 1/2/4 bytes
// and 8 only when the guest runs in long mode (LEN 10 is undefined outside IA-32e mode).
ArchInfo arch_x86_guest(bool long_mode) noexcept;
// The description for the machine this runs on (compile-time architecture; slot counts are the
// architectural defaults — the perf backend's probe refines them at run time).
ArchInfo host_arch() noexcept;

// The hardware type a user access needs on this arch: modify -> write; read -> read_write on x86
// (emulated), read on aarch64; exec -> exec; write -> write; read_write -> read_write.
HwType hw_type_for(const ArchInfo& arch, Access access) noexcept;

}  // namespace hwbp::core
