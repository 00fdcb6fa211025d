// Three ways, cheapest first:
//  1. The bytes lie in a readable segment of a loaded object (globals and statics, the common
//     case): glibc's dl_iterate_phdr() lists them without a syscall, and holds the loader's
//     lock while its callback runs, so a concurrent dlclose() cannot unmap the segment between
//     the check and the load (elf/dl-iteratephdr.c takes dl_load_write_lock; dl-close.c removes
//     the object from the list under it before unmapping). The segments are cached and
//     re-listed only when the loader's dlpi_adds / dlpi_subs counters say the set changed.
//  2. A page a kernel-checked read succeeded on before: msync() proves it is still mapped
//     (one cheap syscall) and the load is done directly.
//  3. process_vm_readv(): the kernel reads, and fails cleanly on an unmapped address.
// A page the program made PROT_NONE after it was found readable is the one case 1 and 2 cannot
// see (as in glibc's own debugger interfaces, the program's mapping is trusted).
#include "inprocess/safe_read.hpp"

#include <link.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <utility>
#include <vector>

#include "inprocess/dispatch.hpp"

namespace hwbp::inprocess {
namespace {

// ---- 1. segments of loaded objects ----

struct Segments {
  unsigned long long adds = ~0ull, subs = ~0ull;  // dl_iterate_phdr's counters when listed
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> readable;  // [begin, end)
};
Segments g_segments;

struct StaticQuery {
  std::uintptr_t addr;
  unsigned len;
  std::uint64_t* out;
  bool first = true;
  bool relisting = false;
  bool found = false;
};

bool in_segments(std::uintptr_t addr, unsigned len) {
  for (const auto& [begin, end] : g_segments.readable)
    if (addr >= begin && addr + len <= end) return true;
  return false;
}

int on_object(dl_phdr_info* info, std::size_t size, void* data) {
  auto& q = *static_cast<StaticQuery*>(data);
  if (q.first) {
    q.first = false;
    if (size < offsetof(dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) return 1;  // no counters
    if (info->dlpi_adds == g_segments.adds && info->dlpi_subs == g_segments.subs) {
      // The loader's lock is held here: the segment cannot go away before the load.
      q.found = in_segments(q.addr, q.len);
      if (q.found) *q.out = load_chunk(q.addr, q.len, false);
      return 1;
    }
    g_segments = Segments{info->dlpi_adds, info->dlpi_subs, {}};
    q.relisting = true;
  }
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_R) || ph.p_memsz == 0) continue;
    const std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    g_segments.readable.emplace_back(begin, begin + ph.p_memsz);
  }
  return 0;
}

bool read_static_chunk(std::uintptr_t addr, unsigned len, std::uint64_t& out) noexcept {
  try {
    StaticQuery q{addr, len, &out};
    dl_iterate_phdr(on_object, &q);
    // After re-listing, the lock is gone: this read takes a kernel-checked path, the next the
    // fast one.
    return q.found;
  } catch (...) {  // allocation failure while re-listing
    g_segments = Segments{};
    return false;
  }
}

// ---- 2. pages read before ----

constexpr std::size_t kCacheSize = 64;
std::array<std::uintptr_t, kCacheSize> g_readable_pages{};

std::uintptr_t page_of(std::uintptr_t addr) {
  static const std::uintptr_t page_size = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  return addr & ~(page_size - 1);
}

std::uintptr_t& cache_slot(std::uintptr_t page) { return g_readable_pages[(page >> 12) % kCacheSize]; }

bool still_mapped(std::uintptr_t page) {
  static const std::size_t page_size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return msync(reinterpret_cast<void*>(page), page_size, MS_ASYNC) == 0;
}

}  // namespace

bool read_user_chunk(std::uintptr_t addr, unsigned len, std::uint64_t& out) noexcept {
  if (read_static_chunk(addr, len, out)) return true;
  std::uintptr_t page = page_of(addr);  // aligned chunks never cross a page
  if (page != 0 && cache_slot(page) == page && still_mapped(page)) {
    out = load_chunk(addr, len, false);
    return true;
  }
  // ---- 3. the kernel reads ----
  std::uint64_t value = 0;
  iovec local{&value, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != static_cast<ssize_t>(len)) {
    if (cache_slot(page) == page) cache_slot(page) = 0;
    return false;
  }
  cache_slot(page) = page;
  out = value;
  return true;
}

}  // namespace hwbp::inprocess
