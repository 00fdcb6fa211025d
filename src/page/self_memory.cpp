#include "page/self_memory.hpp"

#include <fcntl.h>
#include <sys/syscall.h>

#include <atomic>

#include "page/raw_syscall.hpp"

namespace hwbp::page {
namespace {
std::atomic<int> g_fd{-1};
std::atomic<pid_t> g_owner{0};
}  // namespace

bool open_self_memory() noexcept {
  pid_t pid = static_cast<pid_t>(raw_syscall(SYS_getpid));
  if (g_fd.load() >= 0 && g_owner.load() == pid) return true;
  long fd = raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/proc/self/mem"), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  int old = g_fd.exchange(static_cast<int>(fd));
  g_owner.store(pid);
  if (old >= 0) raw_syscall(SYS_close, old);
  return true;
}

bool write_self(std::uintptr_t addr, const void* data, std::size_t len) noexcept {
  const auto* p = static_cast<const char*>(data);
  while (len > 0) {
    long n = raw_syscall(SYS_pwrite64, g_fd.load(std::memory_order_relaxed), reinterpret_cast<long>(p),
                         static_cast<long>(len), static_cast<long>(addr));
    if (n <= 0) return false;
    p += n;
    addr += static_cast<std::uintptr_t>(n);
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

bool read_self(std::uintptr_t addr, void* out, std::size_t len) noexcept {
  auto* p = static_cast<char*>(out);
  while (len > 0) {
    long n = raw_syscall(SYS_pread64, g_fd.load(std::memory_order_relaxed), reinterpret_cast<long>(p),
                         static_cast<long>(len), static_cast<long>(addr));
    if (n <= 0) return false;
    p += n;
    addr += static_cast<std::uintptr_t>(n);
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

pid_t self_memory_owner() noexcept { return g_owner.load(); }

}  // namespace hwbp::page
