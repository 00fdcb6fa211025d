// Write-trap watches: the guest pages holding watched bytes are given to KVM as read-only
// memslots, so every guest store to them exits as KVM_EXIT_MMIO with the exact guest-physical
// address, length and data (arch/x86/kvm/mmu: a write fault on a read-only slot is emulated and
// handed to userspace as MMIO). The library applies each store to guest RAM itself — the old
// bytes read just before, the new ones written — and reports it when it touches watched bytes.
// Loads and instruction fetches from those pages run at full speed: a read-only memslot still
// maps the pages readable.
//
// Bookkeeping (reference-counted pages, which watches a store touches, the modify filter) is
// core::PageSet's, the page-protection engine's pure half; this file is the KVM transport.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <vector>

#include "core/page_set.hpp"
#include "hwbp/kvm.hpp"
#include "kvm/guest_ram.hpp"
#include "kvm/memslot_layout.hpp"

namespace hwbp::kvm {

// A physically contiguous part of a watch (a virtual range may map to scattered pages).
struct TrapPiece {
  std::uint64_t gva = 0;
  std::uint64_t gpa = 0;
  std::uint64_t len = 0;
};

struct TrapRequest {
  WatchId id = 0;
  Access access = Access::write;
  std::vector<TrapPiece> pieces;
};

// One completed store, as the exit carried it.
struct TrappedStore {
  std::uint64_t gpa = 0;
  unsigned len = 0;
  std::array<std::uint8_t, 8> old_bytes{};
  std::array<std::uint8_t, 8> new_bytes{};
};

class WriteTraps {
 public:
  // busy_memslots: memslot numbers the VMM uses besides its RAM regions (the library takes
  // spare numbers from the top of KVM_CAP_NR_MEMSLOTS down, avoiding these).
  WriteTraps(int vm_fd, const GuestRam& ram, unsigned memslot_count,
             std::vector<std::uint32_t> busy_memslots);
  ~WriteTraps();
  WriteTraps(const WriteTraps&) = delete;
  WriteTraps& operator=(const WriteTraps&) = delete;

  // All or nothing: on a throw, the memslots and the watch set are as before.
  void arm(std::span<const TrapRequest> requests);
  void disarm(std::span<const WatchId> ids);
  // Every memslot back as the VMM made it; never throws (detach).
  void restore() noexcept;

  bool empty() const noexcept { return pieces_.empty(); }
  bool traps(std::uint64_t gpa) const noexcept;
  std::vector<std::uint64_t> pages_of(WatchId id) const;
  std::vector<TrapPiece> pieces_of(WatchId id) const;

  // A KVM_EXIT_MMIO store into a trapped page: applies it to guest RAM and calls
  // report(watch, access, gva, gpa, len, old, new) for each watch whose bytes it changed as
  // the watch's access asks (write: any store; modify: changed bytes). Returns the store, or
  // nothing when the exit is not a store to a trapped page (the VMM's own MMIO).
  using Report = std::function<void(WatchId, Access, std::uint64_t gva, std::uint64_t gpa, unsigned len,
                                    const std::uint8_t* old_bytes, const std::uint8_t* new_bytes)>;
  std::optional<TrappedStore> complete_store(std::uint64_t gpa, unsigned len, const std::uint8_t* data,
                                             const Report& report);

 private:
  struct Slot {
    std::uint32_t id;
    MemslotRun run;
  };
  struct PieceInfo {
    WatchId watch;
    Access access;
    TrapPiece piece;
  };
  void relayout(std::vector<std::uint64_t> pages);
  void set_region_layout(std::size_t region, const std::vector<Slot>& from, const std::vector<Slot>& to);
  std::vector<Slot> slots_for(std::size_t region, const std::vector<MemslotRun>& runs) const;
  void set_memslot(const RamRegion& region, std::uint32_t id, const MemslotRun& run, bool remove) const;
  std::uint32_t spare_memslot(const std::vector<Slot>& taking) const;

  int vm_fd_;
  const GuestRam& ram_;
  unsigned memslot_count_;
  std::vector<std::uint32_t> busy_;
  core::PageSet pages_{kGuestPageSize};
  std::map<std::uint64_t, PieceInfo> pieces_;  // PageSet watch id -> piece
  std::uint64_t next_piece_ = 1;
  std::vector<std::vector<Slot>> layout_;  // per region (ram_.regions() order)
  std::vector<std::uint64_t> trapped_;     // sorted trapped pages
  mutable std::mutex store_mutex_;         // stores from several vCPUs: one at a time
};

}  // namespace hwbp::kvm
