// The guest RAM a VMM described: guest-physical ranges backed by the VMM's host memory. The
// library reads and writes guest memory there directly (a trapped store is applied to it, a
// hit's bytes are read from it) — never through KVM, which has no ioctl for guest memory.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hwbp/kvm.hpp"
#include "kvm/page_walk.hpp"

namespace hwbp::kvm {

inline constexpr std::uint64_t kGuestPageSize = 4096;  // memslot granularity on x86

class GuestRam : public PhysicalMemory {
 public:
  // Throws hwbp::Error(invalid_request) for an empty, unaligned, null-backed or overlapping region.
  explicit GuestRam(std::vector<RamRegion> regions);

  const std::vector<RamRegion>& regions() const noexcept { return regions_; }
  // The region holding all of [gpa, gpa + len), or nullptr.
  const RamRegion* region_of(std::uint64_t gpa, std::uint64_t len = 1) const noexcept;
  // Host address of [gpa, gpa + len) when one region holds it all, else nullptr.
  std::uint8_t* host(std::uint64_t gpa, std::uint64_t len) const noexcept;

  bool read_physical(std::uint64_t gpa, void* out, std::size_t len) const override;
  bool write_physical(std::uint64_t gpa, const void* bytes, std::size_t len) const;

 private:
  std::vector<RamRegion> regions_;  // sorted by guest_phys
};

}  // namespace hwbp::kvm
