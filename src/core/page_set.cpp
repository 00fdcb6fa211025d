#include "core/page_set.hpp"

#include <algorithm>
#include <string>

#include "core/value_filter.hpp"
#include "hwbp/error.hpp"

namespace hwbp::core {

const char* page_refusal_reason(Access access) noexcept {
  switch (access) {
    case Access::write:
    case Access::modify:
      return nullptr;
    case Access::read:
    case Access::read_write:
      return "the page engine watches stores only: loads from a read-only page leave no trace "
             "(use a hardware watch for r/rw)";
    case Access::exec:
      return "the page engine watches stores only (use a hardware breakpoint for x)";
  }
  return "unknown access kind";
}

bool page_should_report(Access access, std::span<const std::uint8_t> old_bytes,
                        std::span<const std::uint8_t> new_bytes) noexcept {
  if (page_refusal_reason(access) != nullptr) return false;  // never armed on pages
  // The one value filter of every engine (core/value_filter.hpp); both values are exact here.
  return passes_value_filter(access, compare_values(old_bytes, new_bytes));
}

PageSet::PageSet(std::uint64_t page_size) : page_size_(page_size) {}

PageRange PageSet::pages_for(std::uint64_t addr, std::uint64_t len) const noexcept {
  std::uint64_t first = page_of(addr);
  std::uint64_t last = page_of(addr + (len ? len : 1) - 1);
  return {first, last - first + page_size_};
}

std::vector<PageWatch>::const_iterator PageSet::upper_bound_start(std::uint64_t end) const noexcept {
  return std::lower_bound(watches_.begin(), watches_.end(), end,
                          [](const PageWatch& w, std::uint64_t e) { return w.addr < e; });
}

std::vector<PageRange> PageSet::merge(const std::vector<std::uint64_t>& pages, std::uint64_t page_size,
                                      const std::vector<int>* prots) {
  std::vector<PageRange> out;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    const std::uint64_t p = pages[i];
    const int prot = prots != nullptr ? (*prots)[i] : -1;
    if (!out.empty() && out.back().addr + out.back().len == p && out.back().program_prot == prot)
      out.back().len += page_size;
    else
      out.push_back({p, page_size, prot});
  }
  return out;
}

std::vector<PageRange> PageSet::add(const PageWatch& watch) {
  if (const char* why = page_refusal_reason(watch.access))
    throw Error(Errc::invalid_request, std::string("cannot watch with access '") + to_string(watch.access) +
                                           "' on the page engine: " + why);
  if (watch.len == 0 || watch.addr + watch.len < watch.addr)
    throw Error(Errc::invalid_request, "page watch range is empty or wraps around the address space");
  if (find(watch.id) != nullptr)
    throw Error(Errc::invalid_request, "page watch id " + std::to_string(watch.id) + " is already armed");
  PageRange r = pages_for(watch.addr, watch.len);
  std::vector<std::uint64_t> fresh;
  for (std::uint64_t p = r.addr; p < r.addr + r.len; p += page_size_) {
    PageInfo& page = pages_[p];
    // A page forgotten when its memory went away (an ended watch still counts it) may be mapped
    // again by now: it is fresh, to be protected for this watch.
    if (page.refs++ == 0 || page.gone) {
      page.gone = false;
      fresh.push_back(p);
    }
  }
  auto pos = std::upper_bound(watches_.begin(), watches_.end(), watch, [](const PageWatch& a, const PageWatch& b) {
    return a.addr != b.addr ? a.addr < b.addr : a.id < b.id;
  });
  watches_.insert(pos, watch);
  max_len_ = std::max(max_len_, watch.len);
  return merge(fresh, page_size_);
}

std::vector<PageRange> PageSet::remove(std::uint64_t id) {
  auto it = std::find_if(watches_.begin(), watches_.end(), [id](const PageWatch& w) { return w.id == id; });
  if (it == watches_.end()) return {};
  PageRange r = pages_for(it->addr, it->len);
  watches_.erase(it);
  max_len_ = 0;
  for (const PageWatch& w : watches_) max_len_ = std::max(max_len_, w.len);
  std::vector<std::uint64_t> freed;
  std::vector<int> prots;
  for (std::uint64_t p = r.addr; p < r.addr + r.len; p += page_size_) {
    auto pi = pages_.find(p);
    if (pi != pages_.end() && --pi->second.refs == 0) {
      if (!pi->second.gone) {
        freed.push_back(p);
        prots.push_back(pi->second.program_prot);
      }
      pages_.erase(pi);
    }
  }
  return merge(freed, page_size_, &prots);
}

void PageSet::set_program_protection(PageRange range, int prot) {
  for (std::uint64_t p = page_of(range.addr); p < range.addr + range.len; p += page_size_) {
    auto it = pages_.find(p);
    if (it != pages_.end()) it->second.program_prot = prot;
  }
}

void PageSet::forget(std::uint64_t addr, std::uint64_t len) noexcept {
  if (len == 0) return;
  for (auto it = pages_.lower_bound(page_of(addr)); it != pages_.end() && it->first < addr + len; ++it)
    it->second.gone = true;
}

std::optional<int> PageSet::program_protection(std::uint64_t addr) const noexcept {
  auto it = pages_.find(page_of(addr));
  if (it == pages_.end() || it->second.gone) return std::nullopt;
  return it->second.program_prot;
}

bool PageSet::store_is_ours(std::uint64_t addr, std::uint64_t len) const noexcept {
  bool any = false;
  for (std::uint64_t p = page_of(addr); p < addr + (len ? len : 1); p += page_size_) {
    auto it = pages_.find(p);
    if (it == pages_.end() || it->second.gone) continue;  // an unprotected page of a store crossing pages
    // PROT_WRITE is 2 (asm-generic/mman-common.h); the program's own read-only page faults
    // for the program.
    if (it->second.program_prot >= 0 && (it->second.program_prot & 2) == 0) return false;
    any = true;
  }
  return any;
}

bool PageSet::overlaps_protected(std::uint64_t addr, std::uint64_t len) const noexcept {
  if (len == 0) return false;
  for (auto it = pages_.lower_bound(page_of(addr)); it != pages_.end() && it->first < addr + len; ++it)
    if (!it->second.gone) return true;
  return false;
}

const PageWatch* PageSet::find(std::uint64_t id) const noexcept {
  for (const PageWatch& w : watches_)
    if (w.id == id) return &w;
  return nullptr;
}

std::vector<std::uint64_t> PageSet::watches_in(std::uint64_t addr, std::uint64_t len) const {
  std::vector<std::uint64_t> ids;
  for_each_touched(addr, len, [&](const PageWatch& w, std::uint64_t, std::uint64_t) { ids.push_back(w.id); });
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<PageRange> PageSet::protected_ranges() const {
  std::vector<std::uint64_t> pages;
  pages.reserve(pages_.size());
  for (const auto& [p, info] : pages_)
    if (!info.gone) pages.push_back(p);
  return merge(pages, page_size_);
}

}  // namespace hwbp::core
