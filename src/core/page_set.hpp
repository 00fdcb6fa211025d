// The page-protection engine's pure bookkeeping (no syscalls): which watches exist, which pages
// they keep read-only (reference-counted: two watches on one page protect it once), the
// program's own protection of each of those pages, and which watches one store touches.
//
// Both transports (in-process SIGSEGV handler, ptrace) use it. Lookups (protects, touched,
// program_protection) neither allocate nor throw, so a signal handler may call them while the
// transport keeps add/remove from running concurrently.
//
// Access kinds on this engine:
//   write   every store that touches the watched bytes (same-value stores included);
//   modify  the stores that change at least one watched byte;
//   read, read_write, exec: refused (see refusal_reason): a read-only page lets loads through
//           without a trace, and no-access protection would trap every load and instruction
//           fetch of the page, which this engine does not emulate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "hwbp/types.hpp"

namespace hwbp::core {

struct PageWatch {
  std::uint64_t id = 0;
  std::uint64_t addr = 0;
  std::uint64_t len = 0;
  Access access = Access::write;
};

struct PageRange {
  std::uint64_t addr = 0;  // page-aligned
  std::uint64_t len = 0;   // a multiple of the page size
  int program_prot = -1;   // remove(): the program's protection to restore (-1: never recorded)
  bool operator==(const PageRange&) const = default;
};

// Why the page engine cannot take a watch of this access kind, or nullptr when it can.
const char* page_refusal_reason(Access access) noexcept;

// The value filter: should a store with these bytes be reported to a watch of `access`?
// old/new are the watched bytes the store touched (same length).
bool page_should_report(Access access, std::span<const std::uint8_t> old_bytes,
                        std::span<const std::uint8_t> new_bytes) noexcept;

class PageSet {
 public:
  explicit PageSet(std::uint64_t page_size = 4096);

  std::uint64_t page_size() const noexcept { return page_size_; }
  std::uint64_t page_of(std::uint64_t addr) const noexcept { return addr & ~(page_size_ - 1); }

  // The pages a watch of [addr, addr + len) needs (one range).
  PageRange pages_for(std::uint64_t addr, std::uint64_t len) const noexcept;

  // Adds a watch. Throws hwbp::Error(invalid_request) for an empty or wrapping range, a
  // refused access kind or a duplicate id. Returns the pages that were not protected before
  // (the transport protects them, after recording their program protection with
  // set_program_protection) — merged into maximal ranges.
  std::vector<PageRange> add(const PageWatch& watch);
  // Removes a watch; returns the pages no other watch needs any more, each range with the
  // program protection to restore (ranges split where it differs). Unknown id: empty.
  std::vector<PageRange> remove(std::uint64_t id);

  // The memory of [addr, addr + len) went away (munmap, mremap, MADV_DONTNEED...): its pages are
  // ours no more (a mapping made there later is not protected) and remove() will not hand them
  // back. Allocation-free: callable from a signal handler.
  void forget(std::uint64_t addr, std::uint64_t len) noexcept;

  // The program's own protection of a page we hold (PROT_* bits). Recorded when the page is
  // first protected and on each mprotect the program makes; the transport applies it without
  // PROT_WRITE while the page is ours.
  void set_program_protection(PageRange range, int prot);
  // nullopt: not a page we protect.
  std::optional<int> program_protection(std::uint64_t addr) const noexcept;
  bool protects(std::uint64_t addr) const noexcept { return program_protection(addr).has_value(); }
  // Every page of [addr, addr + len) is ours and writable by the program: a store there that
  // faulted is the engine's to complete (otherwise it is the program's own fault).
  bool store_is_ours(std::uint64_t addr, std::uint64_t len) const noexcept;
  // Some page of [addr, addr + len) is ours.
  bool overlaps_protected(std::uint64_t addr, std::uint64_t len) const noexcept;

  // The watches [addr, addr + len) touches, each once with the touched part of the watch
  // (a store over several parts of one watch is one hit). Calls f(const PageWatch&, start, end).
  template <class F>
  void for_each_touched(std::uint64_t addr, std::uint64_t len, F&& f) const {
    if (len == 0) return;
    const std::uint64_t end = addr + len;
    // Watches sorted by start: candidates start before `end`; those starting more than
    // max_len_ before addr cannot reach it.
    auto it = upper_bound_start(end);
    while (it != watches_.begin()) {
      --it;
      const PageWatch& w = *it;
      if (w.addr + max_len_ <= addr) break;
      std::uint64_t s = w.addr > addr ? w.addr : addr;
      std::uint64_t e = w.addr + w.len < end ? w.addr + w.len : end;
      if (s < e) f(w, s, e);
    }
  }

  std::size_t watch_count() const noexcept { return watches_.size(); }
  std::size_t page_count() const noexcept { return pages_.size(); }
  const PageWatch* find(std::uint64_t id) const noexcept;
  // Watches with a byte in [addr, addr + len) (e.g. memory the program unmaps), by id.
  std::vector<std::uint64_t> watches_in(std::uint64_t addr, std::uint64_t len) const;
  // All protected pages as maximal ranges.
  std::vector<PageRange> protected_ranges() const;

 private:
  struct PageInfo {
    unsigned refs = 0;
    int program_prot = -1;  // -1: not recorded yet
    bool gone = false;      // forget(): the memory went away
  };
  std::vector<PageWatch>::const_iterator upper_bound_start(std::uint64_t end) const noexcept;
  static std::vector<PageRange> merge(const std::vector<std::uint64_t>& pages, std::uint64_t page_size,
                                      const std::vector<int>* prots = nullptr);

  std::uint64_t page_size_;
  std::vector<PageWatch> watches_;  // sorted by addr, then id
  std::uint64_t max_len_ = 0;
  std::map<std::uint64_t, PageInfo> pages_;
};

}  // namespace hwbp::core
