// How a guest-RAM region is cut into memslots so that exactly the trapped pages are read-only
// (pure: no syscalls).
//
// KVM cannot make part of a memslot read-only, and a memslot cannot be resized in place
// (virt/kvm/kvm_main.c, kvm_set_memory_region: a changed size is EINVAL; only a move or a flags
// change keep the slot). So a region with trapped pages becomes several memslots: runs of
// ordinary pages and runs of read-only pages, all backed by the VMM's same host memory.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace hwbp::kvm {

struct MemslotRun {
  std::uint64_t guest_phys = 0;
  std::uint64_t size = 0;
  bool trapped = false;  // KVM_MEM_READONLY: every store exits as KVM_EXIT_MMIO
  bool operator==(const MemslotRun&) const = default;
};

// Maximal runs covering [guest_phys, guest_phys + size) in address order. `trapped_pages`:
// page-aligned guest-physical addresses, sorted; those outside the region are ignored.
std::vector<MemslotRun> memslot_runs(std::uint64_t guest_phys, std::uint64_t size,
                                     std::span<const std::uint64_t> trapped_pages,
                                     std::uint64_t page_size = 4096);

}  // namespace hwbp::kvm
