#include "kvm/guest_ram.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

namespace hwbp::kvm {

namespace {

std::string describe(const RamRegion& r) {
  char b[96];
  std::snprintf(b, sizeof b, "RAM region (memslot %u, guest-physical 0x%llx, 0x%llx bytes)", r.slot,
                static_cast<unsigned long long>(r.guest_phys), static_cast<unsigned long long>(r.size));
  return b;
}

}  // namespace

GuestRam::GuestRam(std::vector<RamRegion> regions) : regions_(std::move(regions)) {
  std::sort(regions_.begin(), regions_.end(),
            [](const RamRegion& a, const RamRegion& b) { return a.guest_phys < b.guest_phys; });
  for (std::size_t i = 0; i < regions_.size(); ++i) {
    const RamRegion& r = regions_[i];
    if (r.size == 0 || r.host == nullptr)
      throw Error(Errc::invalid_request, describe(r) +
                                             ": empty or without host memory; pass the memslot as "
                                             "given to KVM_SET_USER_MEMORY_REGION");
    if (r.guest_phys % kGuestPageSize || r.size % kGuestPageSize ||
        reinterpret_cast<std::uintptr_t>(r.host) % kGuestPageSize)
      throw Error(Errc::invalid_request, describe(r) + ": not page-aligned (KVM memslots are)");
    if (r.guest_phys + r.size < r.guest_phys)
      throw Error(Errc::invalid_request, describe(r) + ": wraps around the address space");
    if (i > 0 && regions_[i - 1].guest_phys + regions_[i - 1].size > r.guest_phys)
      throw Error(Errc::invalid_request, describe(r) + " overlaps " + describe(regions_[i - 1]));
    for (std::size_t j = 0; j < i; ++j)
      if (regions_[j].slot == r.slot)
        throw Error(Errc::invalid_request,
                    describe(r) + " reuses the memslot number of " + describe(regions_[j]));
  }
}

const RamRegion* GuestRam::region_of(std::uint64_t gpa, std::uint64_t len) const noexcept {
  // Few regions (a VMM has a handful): a linear scan beats a search here.
  for (const RamRegion& r : regions_)
    if (gpa >= r.guest_phys && gpa - r.guest_phys < r.size)
      return len <= r.size - (gpa - r.guest_phys) ? &r : nullptr;
  return nullptr;
}

std::uint8_t* GuestRam::host(std::uint64_t gpa, std::uint64_t len) const noexcept {
  const RamRegion* r = region_of(gpa, len);
  return r ? static_cast<std::uint8_t*>(r->host) + (gpa - r->guest_phys) : nullptr;
}

bool GuestRam::read_physical(std::uint64_t gpa, void* out, std::size_t len) const {
  const std::uint8_t* p = host(gpa, len);
  if (!p) return false;
  std::memcpy(out, p, len);
  return true;
}

bool GuestRam::write_physical(std::uint64_t gpa, const void* bytes, std::size_t len) const {
  std::uint8_t* p = host(gpa, len);
  if (!p) return false;
  std::memcpy(p, bytes, len);
  return true;
}

}  // namespace hwbp::kvm
