#include "vmm/page_tables.hpp"

#include <cstring>

namespace hwbp::vmm {

std::vector<std::uint8_t> build_identity_page_tables(std::uint64_t at, std::uint64_t /*ram_bytes*/) {
  constexpr std::uint64_t kPresentWritable = 0x3, kLargePage = 0x80, kPage = 4096;
  std::vector<std::uint8_t> b(kIdentityTablesBytes, 0);
  auto put = [&b](std::uint64_t offset, std::uint64_t entry) { std::memcpy(b.data() + offset, &entry, 8); };
  put(0, (at + kPage) | kPresentWritable);  // PML4[0] -> PDPT
  for (std::uint64_t gib = 0; gib < 4; ++gib) {
    const std::uint64_t pd = 2 * kPage + gib * kPage;
    put(kPage + 8 * gib, (at + pd) | kPresentWritable);  // PDPT[gib] -> PD
    for (std::uint64_t i = 0; i < 512; ++i)
      put(pd + 8 * i, ((gib << 30) + (i << 21)) | kPresentWritable | kLargePage);
  }
  return b;
}

}  // namespace hwbp::vmm
