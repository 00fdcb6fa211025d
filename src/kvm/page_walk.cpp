#include "kvm/page_walk.hpp"

namespace hwbp::kvm {

namespace {

constexpr std::uint64_t kCr0Pg = 1ull << 31;
constexpr std::uint64_t kCr4Pse = 1ull << 4;
constexpr std::uint64_t kCr4Pae = 1ull << 5;
constexpr std::uint64_t kCr4La57 = 1ull << 12;
constexpr std::uint64_t kEferLma = 1ull << 10;
constexpr std::uint64_t kPresent = 1;
constexpr std::uint64_t kPageSize = 1ull << 7;                 // PS: this entry maps a large page
constexpr std::uint64_t kAddressBits = 0x000FFFFFFFFFF000ull;  // bits 51:12 (MAXPHYADDR 52)

Translation fail(WalkFailure why) { return {std::nullopt, why}; }

// One 64-bit-entry level (PAE, 4-level, 5-level): bits [shift + 8, shift] of gva index 512
// entries (PAE's top level indexes 4 and is handled by the caller).
struct Level64 {
  unsigned shift;
  bool large_allowed;
};

Translation walk_64bit_entries(std::uint64_t table, std::uint64_t gva, const Level64* levels, unsigned count,
                               const PhysicalMemory& memory) {
  for (unsigned i = 0; i < count; ++i) {
    const std::uint64_t index = (gva >> levels[i].shift) & 0x1ff;
    std::uint64_t entry = 0;
    if (!memory.read_physical(table + index * 8, &entry, 8)) return fail(WalkFailure::table_unreadable);
    if (!(entry & kPresent)) return fail(WalkFailure::not_present);
    const bool last = i + 1 == count;
    if (last || (levels[i].large_allowed && (entry & kPageSize))) {
      const std::uint64_t offset_mask = (1ull << levels[i].shift) - 1;
      return {(entry & kAddressBits & ~offset_mask) | (gva & offset_mask), WalkFailure::none};
    }
    table = entry & kAddressBits;
  }
  return fail(WalkFailure::not_present);
}

Translation walk_long_mode(const PagingState& p, std::uint64_t gva, const PhysicalMemory& memory) {
  const bool la57 = p.cr4 & kCr4La57;
  const unsigned va_bits = la57 ? 57 : 48;
  // Canonical: bits 63 .. va_bits-1 all equal.
  const std::int64_t sign_extended = static_cast<std::int64_t>(gva << (64 - va_bits)) >> (64 - va_bits);
  if (static_cast<std::uint64_t>(sign_extended) != gva) return fail(WalkFailure::non_canonical);
  static constexpr Level64 k5[] = {{48, false}, {39, false}, {30, true}, {21, true}, {12, false}};
  static constexpr Level64 k4[] = {{39, false}, {30, true}, {21, true}, {12, false}};
  // CR3 bits 11:0 hold the PCID (or PWT/PCD) and bit 63 the no-flush hint; not the address.
  const std::uint64_t root = p.cr3 & kAddressBits;
  return la57 ? walk_64bit_entries(root, gva, k5, 5, memory) : walk_64bit_entries(root, gva, k4, 4, memory);
}

Translation walk_pae(const PagingState& p, std::uint64_t gva, const PhysicalMemory& memory) {
  if (gva >> 32) return fail(WalkFailure::outside_32bit);
  std::uint64_t pdpte = 0;
  // CR3 bits 31:5 locate the 4-entry, 32-byte aligned PDPT.
  if (!memory.read_physical((p.cr3 & 0xFFFFFFE0ull) + ((gva >> 30) & 3) * 8, &pdpte, 8))
    return fail(WalkFailure::table_unreadable);
  if (!(pdpte & kPresent)) return fail(WalkFailure::not_present);
  static constexpr Level64 k2[] = {{21, true}, {12, false}};
  return walk_64bit_entries(pdpte & kAddressBits, gva, k2, 2, memory);
}

Translation walk_32bit(const PagingState& p, std::uint64_t gva, const PhysicalMemory& memory) {
  if (gva >> 32) return fail(WalkFailure::outside_32bit);
  std::uint32_t pde = 0;
  if (!memory.read_physical((p.cr3 & 0xFFFFF000ull) + ((gva >> 22) & 0x3ff) * 4, &pde, 4))
    return fail(WalkFailure::table_unreadable);
  if (!(pde & kPresent)) return fail(WalkFailure::not_present);
  if ((p.cr4 & kCr4Pse) && (pde & kPageSize)) {
    // 4 MiB page; PSE-36 puts physical bits 39:32 in PDE bits 20:13.
    const std::uint64_t high = static_cast<std::uint64_t>((pde >> 13) & 0xff) << 32;
    return {high | (pde & 0xFFC00000u) | (gva & 0x3FFFFF), WalkFailure::none};
  }
  std::uint32_t pte = 0;
  if (!memory.read_physical((pde & 0xFFFFF000u) + ((gva >> 12) & 0x3ff) * 4, &pte, 4))
    return fail(WalkFailure::table_unreadable);
  if (!(pte & kPresent)) return fail(WalkFailure::not_present);
  return {(pte & 0xFFFFF000u) | (gva & 0xFFF), WalkFailure::none};
}

}  // namespace

const char* to_string(WalkFailure failure) noexcept {
  switch (failure) {
    case WalkFailure::none:
      return "mapped";
    case WalkFailure::not_present:
      return "the guest has not mapped it (a page-table entry on the way is not present)";
    case WalkFailure::non_canonical:
      return "it is not a canonical address";
    case WalkFailure::outside_32bit:
      return "it is above 4 GiB while the guest does not run in long mode";
    case WalkFailure::table_unreadable:
      return "a page table of the guest lies outside the guest RAM the debugger was given";
  }
  return "unknown";
}

Translation walk_page_tables(const PagingState& paging, std::uint64_t gva, const PhysicalMemory& memory) {
  if (!(paging.cr0 & kCr0Pg)) {
    // Paging off: linear = physical (32-bit linear addresses).
    if (gva >> 32) return fail(WalkFailure::outside_32bit);
    return {gva, WalkFailure::none};
  }
  if (paging.efer & kEferLma) return walk_long_mode(paging, gva, memory);
  if (paging.cr4 & kCr4Pae) return walk_pae(paging, gva, memory);
  return walk_32bit(paging, gva, memory);
}

}  // namespace hwbp::kvm
