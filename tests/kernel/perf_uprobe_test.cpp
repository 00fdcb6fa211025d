// Execute breakpoints through the kernel's uprobe PMU (src/perf/uprobe.hpp): real uprobes on
// functions of this test binary, counted and delivered as SIGTRAPs, in the calling thread and in
// threads created later. They need no debug register, so they run where debug exceptions are not
// delivered; opening one needs CAP_PERFMON or root (skipped, with that reason, without it).
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "hwbp/error.hpp"
#include "perf/uprobe.hpp"

namespace {

using hwbp::perf::FileLocation;
using hwbp::perf::UprobeAttr;

extern "C" __attribute__((noinline)) int hwbp_uprobe_target(int x) {
  asm volatile("" ::: "memory");  // keep the call and the function
  return x + 1;
}

UprobeAttr attr_for(void* fn) {
  auto addr = reinterpret_cast<std::uintptr_t>(fn);
  auto where = hwbp::perf::file_location(0, addr);
  EXPECT_TRUE(where.has_value());
  UprobeAttr a;
  a.where = where.value_or(FileLocation{});
  a.addr = addr;
  return a;
}

// Opens `a` on the calling thread, or skips the test saying why it cannot be opened here.
#define OPEN_OR_SKIP(ev, a)                                                                    \
  do {                                                                                         \
    const int rc = hwbp::perf::try_open_uprobe(a, 0, -1, ev);                                  \
    if (rc == -EACCES || rc == -EPERM) GTEST_SKIP() << "uprobes need CAP_PERFMON or root here"; \
    if (rc == -ENOENT) GTEST_SKIP() << "this kernel has no uprobe PMU";                         \
    ASSERT_EQ(rc, 0) << std::strerror(-rc);                                                    \
  } while (0)

TEST(PerfUprobe, FileLocationOfAFunctionIsInThisExecutable) {
  char exe[PATH_MAX] = {};
  ASSERT_GT(readlink("/proc/self/exe", exe, sizeof exe - 1), 0);
  auto where = hwbp::perf::file_location(0, reinterpret_cast<std::uintptr_t>(&hwbp_uprobe_target));
  ASSERT_TRUE(where.has_value());
  EXPECT_EQ(where->path, exe);
  // The offset is where the function's bytes are in the file.
  FILE* f = std::fopen(exe, "rb");
  ASSERT_NE(f, nullptr);
  unsigned char file_bytes[8] = {};
  ASSERT_EQ(std::fseek(f, static_cast<long>(where->offset), SEEK_SET), 0);
  ASSERT_EQ(std::fread(file_bytes, 1, sizeof file_bytes, f), sizeof file_bytes);
  std::fclose(f);
  EXPECT_EQ(std::memcmp(file_bytes, reinterpret_cast<const void*>(&hwbp_uprobe_target), 8), 0);
}

TEST(PerfUprobe, AnonymousCodeHasNoFileLocation) {
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  EXPECT_FALSE(hwbp::perf::file_location(0, reinterpret_cast<std::uintptr_t>(p)).has_value());
  munmap(p, 4096);
}

TEST(PerfUprobe, CountsEveryCallInThisThreadAndInThreadsCreatedLater) {
  UprobeAttr a = attr_for(reinterpret_cast<void*>(&hwbp_uprobe_target));
  a.sample_period = 0;
  a.disabled = false;
  a.inherit = a.inherit_thread = true;
  hwbp::perf::Event ev;
  OPEN_OR_SKIP(ev, a);
  EXPECT_EQ(ev.attr().type, hwbp::core::HwType::exec);
  EXPECT_EQ(ev.attr().addr, a.addr);
  volatile int sink = 0;
  for (int i = 0; i < 100; ++i) sink = hwbp_uprobe_target(sink);
  std::thread([&] { for (int i = 0; i < 7; ++i) sink = hwbp_uprobe_target(sink); }).join();
  EXPECT_EQ(ev.count(), 107);
  EXPECT_EQ(sink, 107);  // the probed function still computes
}

// The kernel quirk behind open_uprobe_on_process keeping the path: an inherited uprobe's path is
// read again, from the cloning thread's memory, at each thread creation (perf/uprobe.hpp).
TEST(PerfUprobe, KernelRereadsAnInheritedUprobesPathAtEachThreadCreation) {
  UprobeAttr a = attr_for(reinterpret_cast<void*>(&hwbp_uprobe_target));
  a.sample_period = 0;
  a.disabled = false;
  a.inherit = a.inherit_thread = true;
  std::vector<char> path(a.where.path.begin(), a.where.path.end());
  path.push_back('\0');
  a.kernel_path = path.data();
  hwbp::perf::Event ev;
  OPEN_OR_SKIP(ev, a);
  std::fill(path.begin(), path.end() - 1, 'x');  // the same address, another (missing) file
  pthread_t t;
  const int rc = pthread_create(&t, nullptr, [](void*) -> void* { return nullptr; }, nullptr);
  if (rc == 0) pthread_join(t, nullptr);
  EXPECT_NE(rc, 0) << "this kernel no longer re-reads the path at clone(): perf/uprobe.hpp can say so";
}

TEST(PerfUprobe, OnProcessKeepsThePathSoThreadsCanBeCreated) {
  hwbp::perf::ThreadEvents evs;
  std::size_t path_len = 0;
  {
    UprobeAttr a = attr_for(reinterpret_cast<void*>(&hwbp_uprobe_target));
    a.sample_period = 0;
    a.disabled = false;
    hwbp::perf::Event probe;
    OPEN_OR_SKIP(probe, a);
    evs = hwbp::perf::open_uprobe_on_process(a, 0);
    path_len = a.where.path.size();
    // The caller's path dies here; its heap block is reused with other bytes (below).
  }
  std::vector<std::string> churn(64, std::string(path_len, 'y'));
  volatile int sink = 0;
  std::thread([&] { for (int i = 0; i < 5; ++i) sink = hwbp_uprobe_target(sink); }).join();
  EXPECT_EQ(sink, 5);
  std::int64_t total = 0;
  for (auto& ev : evs.events) total += ev.count();
  EXPECT_EQ(total, 5);  // the new thread's inherited copy counted (the child's counts fold in at join)
}

TEST(PerfUprobe, OnAnotherProcessIsRefusedWithTheReason) {
  UprobeAttr a = attr_for(reinterpret_cast<void*>(&hwbp_uprobe_target));
  try {
    (void)hwbp::perf::open_uprobe_on_process(a, 1);
    FAIL() << "an inherited uprobe on another process was opened";
  } catch (const hwbp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cloning thread's memory"), std::string::npos) << e.what();
  }
}

// glibc 2.36's siginfo_t lacks the _perf member (Linux 5.13 include/uapi/asm-generic/siginfo.h):
// si_perf_data follows si_addr (x86-64: offset 24), and TRAP_PERF is 6.
constexpr int kTrapPerf = 6;
std::uint64_t perf_data(const siginfo_t* si) {
  std::uint64_t v;
  std::memcpy(&v, reinterpret_cast<const char*>(si) + 24, sizeof v);
  return v;
}

std::atomic<int> g_traps{0};
std::atomic<std::uint64_t> g_trap_data{0};
std::atomic<int> g_trap_code{0};

TEST(PerfUprobe, SigtrapReachesTheHittingThreadWithItsSigData) {
  struct sigaction sa {}, old {};
  sa.sa_flags = SA_SIGINFO;
  sa.sa_sigaction = [](int, siginfo_t* si, void*) {
    g_traps.fetch_add(1);
    g_trap_code.store(si->si_code);
    g_trap_data.store(perf_data(si));
  };
  ASSERT_EQ(sigaction(SIGTRAP, &sa, &old), 0);
  UprobeAttr a = attr_for(reinterpret_cast<void*>(&hwbp_uprobe_target));
  a.sigtrap = a.remove_on_exec = true;
  a.sig_data = 0x6877627075700001ull;
  a.disabled = false;
  hwbp::perf::Event ev;
  const int rc = hwbp::perf::try_open_uprobe(a, 0, -1, ev);
  if (rc == -EACCES || rc == -EPERM || rc == -ENOENT) {
    sigaction(SIGTRAP, &old, nullptr);
    GTEST_SKIP() << "uprobes are not available to this process: " << std::strerror(-rc);
  }
  ASSERT_EQ(rc, 0) << std::strerror(-rc);
  g_traps = 0;
  for (int i = 0; i < 5; ++i) hwbp_uprobe_target(i);
  ev.close();
  sigaction(SIGTRAP, &old, nullptr);
  EXPECT_EQ(g_traps.load(), 5);
  EXPECT_EQ(g_trap_code.load(), kTrapPerf);
  EXPECT_EQ(g_trap_data.load(), a.sig_data);
}

TEST(PerfUprobe, UnprivilegedOpenSaysWhatPrivilegeIsNeeded) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to an unprivileged user for the check";
  UprobeAttr a = attr_for(reinterpret_cast<void*>(&hwbp_uprobe_target));
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    try {
      hwbp::perf::open_uprobe(a, 0);
      _exit(3);  // opened: not what an unprivileged process gets
    } catch (const hwbp::Error& e) {
      const bool names_it = std::string(e.what()).find("CAP_PERFMON or root") != std::string::npos;
      _exit(e.code() == hwbp::Errc::permission && names_it ? 0 : 4);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
