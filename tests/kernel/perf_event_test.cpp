// The perf backend against the real kernel: Event lifecycle, exact counts, MODIFY, the
// capability probe, thread listing, and every errno path's typed error and message.
#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hwbp/error.hpp"
#include "perf/capabilities.hpp"
#include "perf/errors.hpp"
#include "perf/event.hpp"
#include "perf/threads.hpp"
#include "support/hit_delivery.hpp"

namespace {

using hwbp::Errc;
using hwbp::Error;
using hwbp::core::HwType;
using namespace hwbp::perf;

alignas(64) volatile std::uint64_t g_var;
alignas(64) volatile std::uint64_t g_other;
alignas(64) volatile unsigned char g_bytes[64];

BreakpointAttr watch(const volatile void* p, unsigned len = 8, HwType type = HwType::write) {
  BreakpointAttr a;
  a.addr = reinterpret_cast<std::uintptr_t>(p);
  a.len = len;
  a.type = type;
  return a;
}

// noipa: the call must really happen at this address every time (no inlining, cloning or
// hoisting out of loops).
__attribute__((noinline, noipa)) void exec_target() { asm volatile("" ::: "memory"); }

bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Kernel release "6.18.44-..." >= major.minor?
bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

// Open a write watch per distinct byte of g_bytes until `n` are held (or one fails).
int fill_slots(unsigned n, std::vector<Event>& held) {
  for (unsigned i = 0; i < n; ++i) {
    Event ev;
    const int rc = Event::try_open(watch(&g_bytes[i], 1), 0, -1, ev);
    if (rc != 0) return rc;
    held.push_back(std::move(ev));
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// PerfEvent: lifecycle and counting

TEST(PerfEvent, CountsEveryWriteExactlyWhileEnabled) {
  HWBP_REQUIRE_HITS();
  Event ev = Event::open(watch(&g_var), 0);
  ASSERT_TRUE(ev.valid());
  for (int i = 0; i < 3; ++i) g_var = i;  // opened disabled: not counted
  EXPECT_EQ(ev.count(), 0);
  ASSERT_EQ(ev.enable(), 0);
  EXPECT_FALSE(ev.attr().disabled);
  for (int i = 0; i < 5; ++i) g_var = 7;  // same value still counts
  std::uint64_t sink = g_var;             // a read does not trigger a write watch
  (void)sink;
  g_other = 1;  // neighbouring variable (another cache line): no hit
  EXPECT_EQ(ev.count(), 5);
  ASSERT_EQ(ev.disable(), 0);
  g_var = 1;
  EXPECT_EQ(ev.count(), 5);
  ev.close();
  EXPECT_FALSE(ev.valid());
  EXPECT_EQ(ev.count(), -EBADF);
  EXPECT_EQ(ev.enable(), -EBADF);
}

TEST(PerfEvent, ExecBreakpointCountsCalls) {
  HWBP_REQUIRE_HITS();
  BreakpointAttr a = watch(reinterpret_cast<const void*>(&exec_target), sizeof(long),
                           HwType::exec);
  a.disabled = false;
  Event ev = Event::open(a, 0);
  for (int i = 0; i < 7; ++i) exec_target();
  EXPECT_EQ(ev.count(), 7);
}

TEST(PerfEvent, DestructorClosesTheFd) {
  int fd = -1;
  {
    Event ev = Event::open(watch(&g_var), 0);
    fd = ev.fd();
    ASSERT_TRUE(fd_is_open(fd));
  }
  EXPECT_FALSE(fd_is_open(fd));
}

TEST(PerfEvent, MoveTransfersOwnership) {
  HWBP_REQUIRE_HITS();
  Event a = Event::open(watch(&g_var), 0);
  const int fd = a.fd();
  Event b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from is defined empty
  EXPECT_EQ(b.fd(), fd);
  EXPECT_EQ(b.attr().addr, reinterpret_cast<std::uintptr_t>(&g_var));

  Event c = Event::open(watch(&g_other), 0);
  const int old_fd = c.fd();
  c = std::move(b);  // assigning over a live event closes it
  EXPECT_EQ(c.fd(), fd);
  EXPECT_FALSE(b.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_NE(old_fd, fd);
  EXPECT_FALSE(fd_is_open(old_fd));

  Event& alias = c;
  c = std::move(alias);  // self-move keeps the event
  EXPECT_EQ(c.fd(), fd);
  ASSERT_EQ(c.enable(), 0);
  g_var = 3;
  EXPECT_EQ(c.count(), 1);
}

TEST(PerfEvent, ModifyMovesTheWatchAndKeepsTheCount) {
  HWBP_REQUIRE_HITS();
  Event ev = Event::open(watch(&g_var), 0);
  ASSERT_EQ(ev.enable(), 0);
  g_var = 1;
  g_var = 2;
  ASSERT_EQ(ev.count(), 2);
  BreakpointAttr next = watch(&g_other, 4);
  next.disabled = false;
  const int rc = ev.modify(next);
  if (rc == -ENOTTY) GTEST_SKIP() << "PERF_EVENT_IOC_MODIFY_ATTRIBUTES missing (kernel < 4.17)";
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(ev.attr().addr, reinterpret_cast<std::uintptr_t>(&g_other));
  EXPECT_EQ(ev.attr().len, 4u);
  g_var = 3;    // old address: no longer watched
  g_other = 4;  // new address
  EXPECT_EQ(ev.count(), 3);
}

TEST(PerfEvent, ModifyTakesOnlyAddrLenTypeDisabled) {
  // Event::modify takes only addr/len/type/disabled from `next`: a request that differs in
  // other fields must still succeed (they are ignored), because the kernel would refuse them.
  Event ev = Event::open(watch(&g_var), 0);
  BreakpointAttr next = watch(&g_other);
  next.inherit = true;
  next.sample_period = 5;
  const int rc = ev.modify(next);
  if (rc == -ENOTTY) GTEST_SKIP() << "PERF_EVENT_IOC_MODIFY_ATTRIBUTES missing (kernel < 4.17)";
  EXPECT_EQ(rc, 0);
  EXPECT_FALSE(ev.attr().inherit);
  EXPECT_EQ(ev.attr().sample_period, 1u);
  // ...and a MODIFY whose new values are invalid is refused with EINVAL, count and fd intact.
  EXPECT_EQ(ev.modify(watch(&g_bytes[1], 3)), -EINVAL);
  EXPECT_TRUE(ev.valid());
  EXPECT_EQ(ev.attr().addr, reinterpret_cast<std::uintptr_t>(&g_other));
}

TEST(PerfEvent, InheritThreadCountsThreadsCreatedLater) {
  HWBP_REQUIRE_HITS();
  if (!capabilities().inherit_thread) GTEST_SKIP() << "attr.inherit_thread missing (kernel < 5.13)";
  BreakpointAttr a = watch(&g_var);
  a.inherit = true;
  a.inherit_thread = true;
  a.disabled = false;
  Event ev = Event::open(a, 0);
  std::thread t([] {
    for (int i = 0; i < 4; ++i) g_var = i;
  });
  t.join();
  g_var = 9;
  // read() includes the exited child's count.
  EXPECT_EQ(ev.count(), 5);
}

// ---------------------------------------------------------------------------------------------
// PerfCapabilities

TEST(PerfCapabilities, ProbeFindsTheSlotsAndTheKernelRefusesOneMore) {
  const Capabilities caps = probe_capabilities();
  ASSERT_TRUE(caps.breakpoints) << "perf breakpoints unavailable, errno " << caps.open_errno;
  ASSERT_GE(caps.slots, 1u);
  EXPECT_LT(caps.slots, 32u);
  std::vector<Event> held;
  ASSERT_EQ(fill_slots(caps.slots, held), 0);
  Event extra;
  EXPECT_EQ(Event::try_open(watch(&g_bytes[caps.slots], 1), 0, -1, extra), -ENOSPC);
  EXPECT_FALSE(extra.valid());
  held.clear();  // slots free again
  EXPECT_EQ(Event::try_open(watch(&g_bytes[caps.slots], 1), 0, -1, extra), 0);
#if defined(__x86_64__)
  EXPECT_EQ(caps.slots, 4u) << "x86 has DR0-DR3";
#endif
}

TEST(PerfCapabilities, FeaturesMatchTheKernelVersion) {
  const Capabilities& caps = capabilities();
  EXPECT_EQ(&caps, &capabilities());  // cached
  EXPECT_EQ(caps.paranoid, read_paranoid());
  EXPECT_FALSE(caps.kernel_release.empty());
  if (kernel_at_least(5, 13)) {
    EXPECT_TRUE(caps.sigtrap);
    EXPECT_TRUE(caps.remove_on_exec);
    EXPECT_TRUE(caps.inherit_thread);
  }
  if (kernel_at_least(4, 17)) {
    EXPECT_TRUE(caps.modify);
  }
  const std::string s = caps.summary();
  EXPECT_TRUE(contains(s, "debug-register slots per thread: " + std::to_string(caps.slots)));
  EXPECT_TRUE(contains(s, "kernel: " + caps.kernel_release));
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 8);
}

TEST(PerfCapabilities, ProbeIgnoresSlotsTheCallerAlreadyHolds) {
  const Capabilities fresh = probe_capabilities();
  ASSERT_GE(fresh.slots, 2u);
  std::vector<Event> held;
  ASSERT_EQ(fill_slots(fresh.slots - 1, held), 0);
  // Probed in a child task: the caller's events do not lower the count.
  const Capabilities busy = probe_capabilities();
  EXPECT_EQ(busy.slots, fresh.slots);
  EXPECT_EQ(busy.sigtrap, fresh.sigtrap);
  EXPECT_EQ(busy.modify, fresh.modify);
  ASSERT_EQ(fill_slots(1, held), 0);  // the last slot...
  Event extra;
  EXPECT_EQ(Event::try_open(watch(&g_var), 0, -1, extra), -ENOSPC);  // ...and no more
  const Capabilities full = probe_capabilities();
  EXPECT_EQ(full.slots, fresh.slots);
  EXPECT_TRUE(full.breakpoints);
}

TEST(PerfCapabilities, ProbeLeavesNoEventsBehind) {
  const Capabilities caps = probe_capabilities();
  std::vector<Event> held;
  EXPECT_EQ(fill_slots(caps.slots, held), 0);  // everything the probe opened was closed
}

// ---------------------------------------------------------------------------------------------
// PerfThreads

TEST(PerfThreads, ListsThisProcessAndNewThreads) {
  EXPECT_EQ(current_tid(), static_cast<pid_t>(::syscall(SYS_gettid)));
  pid_t child_tid = 0;
  bool stop = false;
  std::mutex m;
  std::condition_variable cv;
  std::thread t([&] {
    std::unique_lock lk(m);
    child_tid = current_tid();
    cv.notify_all();
    cv.wait(lk, [&] { return stop; });
  });
  {
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return child_tid != 0; });
  }
  const std::vector<pid_t> tids = list_threads();
  EXPECT_TRUE(std::is_sorted(tids.begin(), tids.end()));
  EXPECT_TRUE(std::binary_search(tids.begin(), tids.end(), ::getpid()));
  EXPECT_TRUE(std::binary_search(tids.begin(), tids.end(), current_tid()));
  EXPECT_TRUE(std::binary_search(tids.begin(), tids.end(), child_tid));
  EXPECT_EQ(list_threads(::getpid()), tids);
  {
    std::lock_guard lk(m);
    stop = true;
  }
  cv.notify_all();
  t.join();
}

// A TID that has exited, confirmed gone from /proc (pthread_join returns before the kernel
// task is fully reaped).
pid_t dead_tid() {
  pid_t tid = 0;
  std::thread([&] { tid = current_tid(); }).join();
  const std::string path = "/proc/self/task/" + std::to_string(tid);
  for (int i = 0; i < 1000 && ::access(path.c_str(), F_OK) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return tid;
}

TEST(PerfThreads, GoneProcessHasNoThreads) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(list_threads(child).empty());
}

// ---------------------------------------------------------------------------------------------
// PerfErrors: each errno path, produced by the real kernel where it can be.

Error catch_open(const BreakpointAttr& a, pid_t pid, int cpu = -1) {
  try {
    Event ev = Event::open(a, pid, cpu);
  } catch (const Error& e) {
    return e;
  }
  return Error(Errc::invalid_state, "open unexpectedly succeeded", 0);
}

TEST(PerfErrors, FullThreadGivesNoSlotsNamingTheThreadAndCount) {
  const Capabilities& caps = capabilities();
  std::vector<Event> held;
  ASSERT_EQ(fill_slots(caps.slots, held), 0);
  const Error e = catch_open(watch(&g_var), 0);
  EXPECT_EQ(e.code(), Errc::no_slots);
  EXPECT_EQ(e.sys_errno(), ENOSPC);
  const std::string msg = e.what();
  EXPECT_TRUE(contains(msg, "all " + std::to_string(caps.slots) + " debug-register slots")) << msg;
  EXPECT_TRUE(contains(msg, "thread " + std::to_string(current_tid()))) << msg;
  EXPECT_TRUE(contains(msg, "remove a watch")) << msg;
}

TEST(PerfErrors, NoSlotsMessageSplitsOursAndOthers) {
  OpenContext ctx;
  ctx.pid = 1234;
  ctx.slots_total = 4;
  ctx.slots_ours = 3;
  const Error e = error_from_errno(ENOSPC, ctx);
  EXPECT_EQ(e.code(), Errc::no_slots);
  EXPECT_STREQ(e.what(),
               "all 4 debug-register slots are in use on thread 1234 (3 by hwbp, 1 elsewhere — "
               "another debugger?); remove a watch or watch fewer bytes");
  ctx.slots_total = 0;
  EXPECT_TRUE(contains(error_from_errno(ENOSPC, ctx).what(), "unknown"));
}

TEST(PerfErrors, LengthThreeIsInvalidRequestNamingTheLength) {
  const Error e = catch_open(watch(&g_bytes[0], 3), 0);
  EXPECT_EQ(e.code(), Errc::invalid_request);
  EXPECT_EQ(e.sys_errno(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "length 3")) << e.what();
}

TEST(PerfErrors, ExecWithLengthOneIsInvalidRequestNamingSizeofLong) {
  const Error e = catch_open(
      watch(reinterpret_cast<const void*>(&exec_target), 1, HwType::exec), 0);
  EXPECT_EQ(e.code(), Errc::invalid_request);
  EXPECT_EQ(e.sys_errno(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "sizeof(long) = " + std::to_string(sizeof(long)))) << e.what();
}

TEST(PerfErrors, MisalignedAndFlagRulesAreNamed) {
  Error e = catch_open(watch(&g_bytes[1], 2), 0);
  EXPECT_EQ(e.sys_errno(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "not aligned")) << e.what();
  BreakpointAttr a = watch(&g_var);
  a.sigtrap = true;  // without remove_on_exec
  e = catch_open(a, 0);
  EXPECT_EQ(e.sys_errno(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "sigtrap requires remove_on_exec")) << e.what();
  a = watch(&g_var);
  a.inherit_thread = true;  // without inherit
  e = catch_open(a, 0);
  EXPECT_EQ(e.sys_errno(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "inherit_thread requires inherit")) << e.what();
#if defined(__x86_64__)
  e = catch_open(watch(&g_var, 8, HwType::read), 0);
  EXPECT_EQ(e.sys_errno(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "no read-only")) << e.what();
#endif
}

TEST(PerfErrors, DeadThreadIsNoSuchThread) {
  const pid_t tid = dead_tid();
  const Error e = catch_open(watch(&g_var), tid);
  EXPECT_EQ(e.code(), Errc::no_such_thread);
  EXPECT_EQ(e.sys_errno(), ESRCH);
  EXPECT_TRUE(contains(e.what(), "thread " + std::to_string(tid))) << e.what();
}

TEST(PerfErrors, FdLimitIsSystemErrorNamingUlimit) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer needs descriptors of its own in the fd-starved child; "
                  "this test runs in the plain build";
#endif
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Lower the soft limit to the lowest free fd number: the next fd cannot be allocated.
    const int lowest = ::open("/dev/null", O_RDONLY);
    ::close(lowest);
    rlimit rl{static_cast<rlim_t>(lowest), static_cast<rlim_t>(lowest) + 100};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = static_cast<rlim_t>(lowest);
    ::setrlimit(RLIMIT_NOFILE, &rl);
    const Error e = catch_open(watch(&g_var), 0);
    const std::string out = std::to_string(static_cast<int>(e.code())) + "|" +
                            std::to_string(e.sys_errno()) + "|" + e.what();
    (void)!::write(pipefd[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_EQ(out.substr(0, out.find('|', out.find('|') + 1)),
            std::to_string(static_cast<int>(Errc::system)) + "|" + std::to_string(EMFILE));
  EXPECT_TRUE(contains(out, "ulimit -n")) << out;
}

// Run `fn` in a forked child that has dropped to uid/gid nobody (65534), which also drops every
// capability; returns "errc|errno|message" of the Error it produced.
template <class Fn>
std::string as_nobody(Fn fn) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) return "pipe failed";
  const pid_t child = ::fork();
  if (child == 0) {
    std::string out;
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      out = "could not drop privileges";
    } else {
      const Error e = fn();
      out = std::to_string(static_cast<int>(e.code())) + "|" + std::to_string(e.sys_errno()) +
            "|" + e.what();
    }
    (void)!::write(pipefd[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  return out;
}

std::string permission_prefix(int err) {
  return std::to_string(static_cast<int>(Errc::permission)) + "|" + std::to_string(err) + "|";
}

TEST(PerfErrors, KernelAccessesUnprivilegedIsPermissionNamingParanoid) {
  const int paranoid = read_paranoid();
  if (paranoid < 2) GTEST_SKIP() << "perf_event_paranoid is " << paranoid << " (< 2): "
                                 << "exclude_kernel=0 is allowed unprivileged, no EACCES";
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to uid nobody";
  const std::string out = as_nobody([] {
    BreakpointAttr a = watch(&g_var);
    a.exclude_kernel = false;
    return catch_open(a, 0);
  });
  EXPECT_EQ(out.rfind(permission_prefix(EACCES), 0), 0u) << out;
  EXPECT_TRUE(contains(out, "perf_event_paranoid is " + std::to_string(paranoid))) << out;
  EXPECT_TRUE(contains(out, "exclude_kernel=0")) << out;
  EXPECT_TRUE(contains(out, "sysctl kernel.perf_event_paranoid=1")) << out;
  EXPECT_TRUE(contains(out, "CAP_PERFMON")) << out;
}

TEST(PerfErrors, CpuBoundUnprivilegedIsPermissionNamingParanoid) {
  const int paranoid = read_paranoid();
  if (paranoid < 1) GTEST_SKIP() << "perf_event_paranoid is " << paranoid
                                 << " (< 1): CPU-bound events are allowed unprivileged";
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to uid nobody";
  const std::string out = as_nobody([] { return catch_open(watch(&g_var), -1, 0); });
  EXPECT_EQ(out.rfind(permission_prefix(EACCES), 0), 0u) << out;
  EXPECT_TRUE(contains(out, "CPU-bound")) << out;
  EXPECT_TRUE(contains(out, "sysctl kernel.perf_event_paranoid=0")) << out;
}

TEST(PerfErrors, OtherUsersThreadIsPermission) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to uid nobody";
  const pid_t me = ::getpid();  // owned by root: nobody may not watch it
  const std::string out = as_nobody([me] { return catch_open(watch(&g_var), me); });
  EXPECT_EQ(out.rfind(std::to_string(static_cast<int>(Errc::permission)) + "|", 0), 0u) << out;
  EXPECT_TRUE(contains(out, "thread " + std::to_string(me))) << out;
}

TEST(PerfErrors, UnsupportedAndSystemErrnosHaveActionableMessages) {
  BreakpointAttr a = watch(&g_var);
  OpenContext ctx;
  ctx.attr = &a;
  struct Case {
    int err;
    Errc code;
    const char* needle;
  };
  const Case cases[] = {
      {ENODEV, Errc::unsupported, "no hardware breakpoint PMU"},
      {ENOENT, Errc::unsupported, "no hardware breakpoint PMU"},
      {ENOSYS, Errc::unsupported, "CONFIG_PERF_EVENTS"},
      {EOPNOTSUPP, Errc::unsupported, "does not support"},
      {ENOTTY, Errc::unsupported, "4.17"},
      {E2BIG, Errc::unsupported, "E2BIG"},
      {EMFILE, Errc::system, "ulimit -n"},
      {ENFILE, Errc::system, "file-max"},
      {ENOMEM, Errc::system, "out of memory"},
      {EPERM, Errc::permission, "seccomp"},
      {EBUSY, Errc::system, "perf_event_open failed"},
  };
  for (const Case& c : cases) {
    const Error e = error_from_errno(c.err, ctx);
    EXPECT_EQ(e.code(), c.code) << c.err;
    EXPECT_EQ(e.sys_errno(), c.err);
    EXPECT_TRUE(contains(e.what(), c.needle)) << c.err << ": " << e.what();
  }
}

TEST(PerfErrors, ReadParanoidMatchesProc) {
  FILE* f = std::fopen("/proc/sys/kernel/perf_event_paranoid", "r");
  if (!f) GTEST_SKIP() << "/proc/sys/kernel/perf_event_paranoid unreadable";
  int v = -100;
  ASSERT_EQ(std::fscanf(f, "%d", &v), 1);
  std::fclose(f);
  EXPECT_EQ(read_paranoid(), v);
}

}  // namespace
