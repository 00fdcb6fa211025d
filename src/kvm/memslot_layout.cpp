#include "kvm/memslot_layout.hpp"

namespace hwbp::kvm {

std::vector<MemslotRun> memslot_runs(std::uint64_t guest_phys, std::uint64_t size,
                                     std::span<const std::uint64_t> trapped_pages, std::uint64_t page_size) {
  std::vector<MemslotRun> runs;
  const std::uint64_t end = guest_phys + size;
  auto append = [&](std::uint64_t from, std::uint64_t to, bool trapped) {
    if (from >= to) return;
    if (!runs.empty() && runs.back().trapped == trapped && runs.back().guest_phys + runs.back().size == from)
      runs.back().size += to - from;
    else
      runs.push_back({from, to - from, trapped});
  };
  std::uint64_t cursor = guest_phys;
  for (std::uint64_t page : trapped_pages) {
    if (page < guest_phys || page >= end || page < cursor) continue;
    const std::uint64_t page_end = page + page_size < end ? page + page_size : end;
    append(cursor, page, false);
    append(page, page_end, true);
    cursor = page_end;
  }
  append(cursor, end, false);
  return runs;
}

}  // namespace hwbp::kvm
