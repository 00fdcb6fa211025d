// Helpers shared by the library's kernel tests (real watchpoints through the real kernel).
#pragma once

#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "hwbp/hwbp.hpp"

namespace hwbp::test {

inline pid_t gettid_raw() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// Number of open file descriptors of this process (to prove nothing was left half-installed).
inline int open_fd_count() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
  }
  return n - 3;  // ".", "..", and the directory's own fd
}

// Fixed-size, lock-free log of hits, filled from signal context.
struct HitLog {
  static constexpr int kMax = 4096;
  struct Entry {
    pid_t tid;
    std::uintptr_t addr;
    std::uintptr_t ip;
    std::uint64_t old_value, new_value;
    bool old_known, has_values;
    bool old_exact, new_exact;
  };
  std::atomic<int> count{0};
  Entry entries[kMax];

  void add(const Hit& h) {
    int i = count.fetch_add(1, std::memory_order_relaxed);
    if (i < kMax)
      entries[i] = {h.tid, h.addr, h.ip, h.old_value, h.new_value, h.old_known, h.has_values, h.old_exact, h.new_exact};
  }
  int size() const { return count.load() < kMax ? count.load() : kMax; }
  Callback callback() {
    return [this](const Hit& h) { add(h); };
  }
};

// Single-width accesses the compiler cannot merge or elide.
template <class T>
inline void store(void* p, T v) {
  *static_cast<volatile T*>(p) = v;
}
template <class T>
inline T load(const void* p) {
  return *static_cast<const volatile T*>(p);
}

}  // namespace hwbp::test
