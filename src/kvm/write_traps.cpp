#include "kvm/write_traps.hpp"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "kvm/kvm_fd.hpp"

namespace hwbp::kvm {

namespace {

std::vector<std::uint64_t> expand(const std::vector<core::PageRange>& ranges) {
  std::vector<std::uint64_t> pages;
  for (const core::PageRange& r : ranges)
    for (std::uint64_t p = r.addr; p < r.addr + r.len; p += kGuestPageSize) pages.push_back(p);
  return pages;
}

}  // namespace

WriteTraps::WriteTraps(int vm_fd, const GuestRam& ram, unsigned memslot_count,
                       std::vector<std::uint32_t> busy_memslots)
    : vm_fd_(vm_fd), ram_(ram), memslot_count_(memslot_count), busy_(std::move(busy_memslots)) {
  for (const RamRegion& r : ram_.regions()) layout_.push_back({Slot{r.slot, {r.guest_phys, r.size, false}}});
}

WriteTraps::~WriteTraps() { restore(); }

bool WriteTraps::traps(std::uint64_t gpa) const noexcept {
  return std::binary_search(trapped_.begin(), trapped_.end(), gpa & ~(kGuestPageSize - 1));
}

void WriteTraps::set_memslot(const RamRegion& region, std::uint32_t id, const MemslotRun& run,
                             bool remove) const {
  kvm_userspace_memory_region m{};
  m.slot = id;
  // A read-only slot is not dirty-logged: KVM never writes it, the library does (in host memory).
  m.flags = run.trapped ? KVM_MEM_READONLY : region.flags;
  m.guest_phys_addr = run.guest_phys;
  m.memory_size = remove ? 0 : run.size;
  m.userspace_addr = reinterpret_cast<std::uint64_t>(region.host) + (run.guest_phys - region.guest_phys);
  if (::ioctl(vm_fd_, KVM_SET_USER_MEMORY_REGION, &m) < 0)
    throw ioctl_error(remove ? "deleting a memslot (KVM_SET_USER_MEMORY_REGION)"
                             : "creating a memslot for write trapping (KVM_SET_USER_MEMORY_REGION)",
                      errno);
}

std::uint32_t WriteTraps::spare_memslot(const std::vector<Slot>& taking) const {
  std::set<std::uint32_t> used(busy_.begin(), busy_.end());
  for (const RamRegion& r : ram_.regions()) used.insert(r.slot);
  for (const auto& region : layout_)
    for (const Slot& s : region) used.insert(s.id);
  for (const Slot& s : taking) used.insert(s.id);
  for (std::uint32_t id = memslot_count_; id-- > 0;)
    if (!used.count(id)) return id;
  throw Error(Errc::no_slots,
              "no spare KVM memslot number for write trapping (" + std::to_string(memslot_count_) +
                  " exist): fewer trapped page runs, or tell the debugger fewer busy memslots");
}

std::vector<WriteTraps::Slot> WriteTraps::slots_for(std::size_t region,
                                                    const std::vector<MemslotRun>& runs) const {
  std::vector<Slot> out;
  for (const MemslotRun& run : runs) {
    // The region keeps its own number for its first run; the others reuse this region's spare
    // numbers first, so an unchanged region keeps its slots.
    std::uint32_t id = ram_.regions()[region].slot;
    if (!out.empty()) {
      id = UINT32_MAX;
      for (const Slot& old : layout_[region])
        if (old.id != ram_.regions()[region].slot &&
            std::none_of(out.begin(), out.end(), [&](const Slot& s) { return s.id == old.id; })) {
          id = old.id;
          break;
        }
      if (id == UINT32_MAX) id = spare_memslot(out);
    }
    out.push_back({id, run});
  }
  return out;
}

void WriteTraps::set_region_layout(std::size_t region, const std::vector<Slot>& from,
                                   const std::vector<Slot>& to) {
  const RamRegion& r = ram_.regions()[region];
  // A memslot cannot shrink or grow in place: delete, then create. The vCPUs are stopped (the
  // debugger refuses changes otherwise), so no guest access falls into the gap.
  for (const Slot& s : from) set_memslot(r, s.id, s.run, true);
  std::size_t created = 0;
  try {
    for (; created < to.size(); ++created) set_memslot(r, to[created].id, to[created].run, false);
  } catch (...) {
    for (std::size_t i = 0; i < created; ++i) {
      try {
        set_memslot(r, to[i].id, to[i].run, true);
      } catch (...) {
      }
    }
    for (const Slot& s : from) {
      try {
        set_memslot(r, s.id, s.run, false);
      } catch (...) {
      }
    }
    throw;
  }
}

void WriteTraps::relayout(std::vector<std::uint64_t> pages) {
  std::vector<std::vector<Slot>> next = layout_;
  std::vector<std::size_t> changed;
  for (std::size_t i = 0; i < layout_.size(); ++i) {
    const RamRegion& r = ram_.regions()[i];
    const std::vector<MemslotRun> runs = memslot_runs(r.guest_phys, r.size, pages, kGuestPageSize);
    bool same = runs.size() == layout_[i].size();
    for (std::size_t k = 0; same && k < runs.size(); ++k) same = runs[k] == layout_[i][k].run;
    if (same) continue;
    next[i] = slots_for(i, runs);
    changed.push_back(i);
  }
  std::size_t done = 0;
  try {
    for (; done < changed.size(); ++done) {
      const std::size_t i = changed[done];
      set_region_layout(i, layout_[i], next[i]);
      layout_[i] = next[i];
    }
  } catch (...) {
    // Put the regions already changed back, newest first.
    while (done-- > 0) {
      const std::size_t i = changed[done];
      try {
        set_region_layout(i, next[i], layout_[i]);
      } catch (...) {
      }
    }
    throw;
  }
  trapped_ = std::move(pages);
}

void WriteTraps::arm(std::span<const TrapRequest> requests) {
  std::lock_guard lock(store_mutex_);
  std::vector<std::uint64_t> added;
  try {
    for (const TrapRequest& req : requests) {
      for (const TrapPiece& piece : req.pieces) {
        if (!ram_.host(piece.gpa, piece.len))
          throw Error(Errc::invalid_request, "write-trap watch: guest-physical range is not guest RAM");
        const std::uint64_t id = next_piece_++;
        pages_.add(core::PageWatch{id, piece.gpa, piece.len, req.access});
        added.push_back(id);
        pieces_[id] = PieceInfo{req.id, req.access, piece};
      }
    }
    relayout(expand(pages_.protected_ranges()));
  } catch (...) {
    for (std::uint64_t id : added) {
      pages_.remove(id);
      pieces_.erase(id);
    }
    throw;
  }
}

void WriteTraps::disarm(std::span<const WatchId> ids) {
  std::lock_guard lock(store_mutex_);
  std::vector<std::pair<std::uint64_t, PieceInfo>> removed;
  for (auto it = pieces_.begin(); it != pieces_.end();) {
    if (std::find(ids.begin(), ids.end(), it->second.watch) != ids.end()) {
      pages_.remove(it->first);
      removed.emplace_back(*it);
      it = pieces_.erase(it);
    } else {
      ++it;
    }
  }
  if (removed.empty()) return;
  try {
    relayout(expand(pages_.protected_ranges()));
  } catch (...) {
    for (const auto& [id, info] : removed) {
      pages_.add(core::PageWatch{id, info.piece.gpa, info.piece.len, info.access});
      pieces_[id] = info;
    }
    throw;
  }
}

void WriteTraps::restore() noexcept {
  std::lock_guard lock(store_mutex_);
  for (std::size_t i = 0; i < layout_.size(); ++i) {
    const RamRegion& r = ram_.regions()[i];
    const std::vector<Slot> base{Slot{r.slot, {r.guest_phys, r.size, false}}};
    if (layout_[i].size() == 1 && !layout_[i][0].run.trapped) continue;
    try {
      set_region_layout(i, layout_[i], base);
    } catch (...) {
    }
    layout_[i] = base;
  }
  for (const auto& [id, info] : pieces_) pages_.remove(id);
  pieces_.clear();
  trapped_.clear();
}

std::vector<std::uint64_t> WriteTraps::pages_of(WatchId id) const {
  std::vector<std::uint64_t> pages;
  for (const auto& [pid, info] : pieces_) {
    if (info.watch != id) continue;
    const core::PageRange r = pages_.pages_for(info.piece.gpa, info.piece.len);
    for (std::uint64_t p = r.addr; p < r.addr + r.len; p += kGuestPageSize) pages.push_back(p);
  }
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  return pages;
}

std::vector<TrapPiece> WriteTraps::pieces_of(WatchId id) const {
  std::vector<TrapPiece> out;
  for (const auto& [pid, info] : pieces_)
    if (info.watch == id) out.push_back(info.piece);
  std::sort(out.begin(), out.end(), [](const TrapPiece& a, const TrapPiece& b) { return a.gva < b.gva; });
  return out;
}

std::optional<TrappedStore> WriteTraps::complete_store(std::uint64_t gpa, unsigned len,
                                                       const std::uint8_t* data, const Report& report) {
  if (len == 0 || len > 8 || !traps(gpa)) return std::nullopt;
  std::lock_guard lock(store_mutex_);
  std::uint8_t* host = ram_.host(gpa, len);
  if (!host) return std::nullopt;
  TrappedStore store;
  store.gpa = gpa;
  store.len = len;
  // The library is the only writer of a trapped page (KVM never writes a read-only slot), and
  // stores reach it one at a time: these are the bytes just before this store.
  std::memcpy(store.old_bytes.data(), host, len);
  std::memcpy(host, data, len);
  std::memcpy(store.new_bytes.data(), data, len);
  pages_.for_each_touched(gpa, len, [&](const core::PageWatch& w, std::uint64_t s, std::uint64_t e) {
    const PieceInfo& info = pieces_.at(w.id);
    const std::span<const std::uint8_t> old_part(store.old_bytes.data() + (s - gpa), e - s);
    const std::span<const std::uint8_t> new_part(store.new_bytes.data() + (s - gpa), e - s);
    if (!core::page_should_report(info.access, old_part, new_part)) return;
    report(info.watch, info.access, info.piece.gva + (s - info.piece.gpa), s, static_cast<unsigned>(e - s),
           old_part.data(), new_part.data());
  });
  return store;
}

}  // namespace hwbp::kvm
