#include "page/self_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <atomic>

#include "page/raw_syscall.hpp"

namespace hwbp::page {
namespace {
std::atomic<int> g_fd{-1};
std::atomic<pid_t> g_owner{0};

// The owner's pid again, in a page the kernel empties in every child a fork makes
// (MADV_WIPEONFORK, Linux 4.14: dup_mmap() in kernel/fork.c gives the child fresh zero pages for
// such a mapping, whichever way the fork was made). Non-zero means this is the owner, without
// the getpid() every trapped store would otherwise pay; zero (a child) or no such page (the
// kernel refused the advice) falls back to getpid(). A CLONE_VM child (vfork) shares the page and
// the memory, so the file is right for it too.
std::atomic<pid_t>* g_owner_mark = nullptr;

void mark_owner(pid_t pid) noexcept {
  if (g_owner_mark == nullptr) {
    long p = raw_syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p < 0 && p > -4096) return;
    if (raw_syscall(SYS_madvise, p, 4096, MADV_WIPEONFORK) != 0) {
      raw_syscall(SYS_munmap, p, 4096);
      return;
    }
    g_owner_mark = reinterpret_cast<std::atomic<pid_t>*>(p);
  }
  g_owner_mark->store(pid, std::memory_order_release);
}
}  // namespace

bool open_self_memory() noexcept {
  pid_t pid = static_cast<pid_t>(raw_syscall(SYS_getpid));
  if (g_fd.load() >= 0 && g_owner.load() == pid) return true;
  long fd = raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/proc/self/mem"), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  int old = g_fd.exchange(static_cast<int>(fd));
  g_owner.store(pid);
  mark_owner(pid);
  if (old >= 0) raw_syscall(SYS_close, old);
  return true;
}

bool opened_in_this_process() noexcept {
  if (g_owner_mark != nullptr && g_owner_mark->load(std::memory_order_acquire) != 0) return true;
  return static_cast<pid_t>(raw_syscall(SYS_getpid)) == g_owner.load();
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


}  // namespace hwbp::page
