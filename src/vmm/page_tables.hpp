// Identity-mapped page tables for a 64-bit kernel entered in long mode: virtual = physical for
// the first 4 GiB (2 MiB pages), at a guest-physical address of the loader's choosing. Pure.
// Layout: PML4, PDPT, then four page directories (6 pages, 24 KiB).
#pragma once

#include <cstdint>
#include <vector>

namespace hwbp::vmm {

inline constexpr std::uint64_t kIdentityTablesBytes = 6 * 4096;
std::vector<std::uint8_t> build_identity_page_tables(std::uint64_t at, std::uint64_t ram_bytes);

}  // namespace hwbp::vmm
