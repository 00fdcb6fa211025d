// Guest virtual -> guest physical by walking the guest's page tables in guest RAM (pure: the
// memory is read through an interface, no syscalls).
//
// KVM_TRANSLATE does the same in the kernel, one ioctl per address. The library needs the
// translation on hot paths (the value of a data hit, the check that a write-trap watch still
// maps where it was armed), where the control registers already arrive with the exit in
// kvm_run (KVM_SYNC_X86_SREGS): a walk of a few loads from guest RAM costs no system call.
// Covers every x86 paging mode (Intel SDM vol. 3, 4.3-4.5): none, 32-bit (with PSE 4 MiB pages),
// PAE, 4-level and 5-level (LA57), with 2 MiB and 1 GiB pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace hwbp::kvm {

struct PagingState {
  std::uint64_t cr0 = 0, cr3 = 0, cr4 = 0, efer = 0;
};

// Reads guest-physical memory; false when the address is not guest RAM the library can read.
class PhysicalMemory {
 public:
  virtual ~PhysicalMemory() = default;
  virtual bool read_physical(std::uint64_t gpa, void* out, std::size_t len) const = 0;
};

enum class WalkFailure : std::uint8_t {
  none,
  not_present,       // an entry on the way has P = 0: the guest has not mapped the address
  non_canonical,     // long mode: the address is not canonical
  outside_32bit,     // paging off or 32-bit paging: the address is above 4 GiB
  table_unreadable,  // a page table lies outside the RAM the library can read
};
const char* to_string(WalkFailure failure) noexcept;

struct Translation {
  std::optional<std::uint64_t> guest_phys;
  WalkFailure failure = WalkFailure::none;
};

Translation walk_page_tables(const PagingState& paging, std::uint64_t gva, const PhysicalMemory& memory);

}  // namespace hwbp::kvm
