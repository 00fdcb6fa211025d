#include "inprocess/safe_read.hpp"

#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>

#include "inprocess/dispatch.hpp"

namespace hwbp::inprocess {
namespace {

// Pages a kernel-checked read has already succeeded on. msync() then proves the page is still
// mapped (~0.5 us) and the load is done directly. A page made PROT_NONE after its first use is
// the one case this cannot see.
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
  std::uintptr_t page = page_of(addr);  // aligned chunks never cross a page
  if (page != 0 && cache_slot(page) == page && still_mapped(page)) {
    out = load_chunk(addr, len, false);
    return true;
  }
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
