// Helpers shared by the library's kernel tests (real watchpoints through the real kernel).
#pragma once

#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "hwbp/hwbp.hpp"
#include "perf/uprobe.hpp"
#include "support/hit_delivery.hpp"

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

// The watch-behaviour suites run once per engine: the debug registers (skipped, with the reason,
// where they deliver no hits) and the software engine — page protection for stores, uprobes for
// exec. Each variant asserts the same exact results, so where both run (the test VM) they agree
// hit for hit.
inline const char* engine_label(Engine e) { return e == Engine::hardware ? "hw" : "page"; }
inline std::string engine_name(const testing::TestParamInfo<Engine>& info) { return engine_label(info.param); }
#define HWBP_ENGINES testing::Values(::hwbp::Engine::hardware, ::hwbp::Engine::page), ::hwbp::test::engine_name

// First statement of a test that runs on `engine`: skips where it cannot run, saying why.
#define HWBP_REQUIRE_ENGINE(engine, access)                                                        \
  do {                                                                                             \
    if ((engine) == ::hwbp::Engine::hardware) HWBP_REQUIRE_HITS();                                 \
    if ((engine) == ::hwbp::Engine::page && (access) == ::hwbp::Access::exec &&                    \
        !::hwbp::perf::uprobes_available())                                                        \
      GTEST_SKIP() << "exec watches beyond the debug registers need uprobe events, which this "    \
                      "process may not open (CAP_PERFMON or root)";                                \
  } while (0)

class EngineTest : public testing::TestWithParam<Engine> {
 protected:
  Engine engine() const { return GetParam(); }
  WatchOptions on_engine(WatchOptions o) const {
    o.engine = GetParam();
    return o;
  }
  template <class T>
  Watch watch_var(T& variable, Access access, Callback callback = {}, Target target = Target::process()) const {
    return watch(on_engine({.addr = reinterpret_cast<std::uintptr_t>(&variable),
                            .len = sizeof(T),
                            .access = access,
                            .target = target,
                            .callback = std::move(callback)}));
  }
  // The mechanism a watch on this engine must get for `access`.
  Mechanism expected_mechanism(Access access) const {
    if (GetParam() == Engine::hardware) return Mechanism::debug_registers;
    return access == Access::exec ? Mechanism::uprobe : Mechanism::page_protection;
  }
};

// Fixed-size, lock-free log of hits, filled from signal context.
struct HitLog {
  static constexpr int kMax = 4096;
  struct Entry {
    pid_t tid;
    std::uintptr_t addr;
    std::uintptr_t ip;
    std::uint64_t old_value, new_value;
    bool old_known, has_values;
    std::uintptr_t pc;
    Mechanism mechanism;
    bool old_exact, new_exact;
  };
  std::atomic<int> count{0};
  Entry entries[kMax];

  void add(const Hit& h) {
    int i = count.fetch_add(1, std::memory_order_relaxed);
    if (i < kMax)
      entries[i] = {h.tid, h.addr, h.ip, h.old_value, h.new_value, h.old_known, h.has_values, h.pc, h.mechanism,
                    h.old_exact, h.new_exact};
  }
  int size() const { return count.load() < kMax ? count.load() : kMax; }
  Callback callback() {
    return [this](const Hit& h) { add(h); };
  }
};

// The options on the debug registers only (no fallback to page protection): for tests of the
// slots themselves (sharing, running out, admission).
inline WatchOptions hw(WatchOptions o) {
  o.engine = Engine::hardware;
  return o;
}

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
