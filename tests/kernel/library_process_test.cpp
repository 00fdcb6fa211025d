// Process-level behaviour: fork children start with no watch, exec drops the watches, and
// SIGTRAP handlers installed before or after the library keep receiving their signals.
#include <gtest/gtest.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "hwbp/hwbp.hpp"
#include "test_support.hpp"
#include "support/hit_delivery.hpp"

namespace hwbp::test {
namespace {

alignas(8) volatile std::uint64_t g_var = 0;

int wait_exit_code(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

TEST(LibraryProcess, ForkChildStartsWithNoWatchAndParentKeepsIt) {
  HWBP_REQUIRE_HITS();
  Watch w = watch(g_var, Access::write, [](const Hit&) {});
  g_var = 1;
  ASSERT_EQ(w.hits(), 1u);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (int i = 0; i < 100; ++i) g_var = static_cast<std::uint64_t>(i);
    // The child's copy of the registry still lists the watch, but no event covers this task.
    _exit(w.hits() == 1 ? 0 : 10);
  }
  EXPECT_EQ(wait_exit_code(child), 0) << "a fork child received hits (inherit_thread not honoured)";
  g_var = 2;
  EXPECT_EQ(w.hits(), 2u);
}

TEST(LibraryProcess, ExecDropsTheWatches) {
  HWBP_REQUIRE_HITS();
  const std::string helper = std::string(HWBP_TEST_HELPER_DIR) + "/hwbp_exec_child";
  // Find where the helper's variable lands with ASLR off, so the watch can be set on exactly
  // the address the exec'd image will write.
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t probe = fork();
  if (probe == 0) {
    dup2(pipefd[1], 1);
    personality(ADDR_NO_RANDOMIZE);
    execl(helper.c_str(), helper.c_str(), "--print-addr", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipefd[1]);
  char buf[64] = {};
  ssize_t n = read(pipefd[0], buf, sizeof buf - 1);
  close(pipefd[0]);
  ASSERT_EQ(wait_exit_code(probe), 0);
  ASSERT_GT(n, 0);
  std::uintptr_t target = std::strtoull(buf, nullptr, 16);
  ASSERT_NE(target, 0u);

  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    personality(ADDR_NO_RANDOMIZE);
    try {
      // Deliberately leaked: the watch must still be armed when execl() runs.
      new Watch(watch({target, 8, Access::write, Target::process(), [](const Hit&) {}}));
    } catch (const Error& e) {
      std::fprintf(stderr, "arming failed: %s\n", e.what());
      _exit(20);
    }
    execl(helper.c_str(), helper.c_str(), "1000", static_cast<char*>(nullptr));
    _exit(127);
  }
  // The helper counts SIGTRAPs while writing the variable 1000 times: exit 0 means none came.
  EXPECT_EQ(wait_exit_code(child), 0) << "the exec'd image still had the watch armed";
}

std::atomic<int> g_user_traps{0};
void user_handler(int, siginfo_t*, void*) { g_user_traps++; }

TEST(LibraryProcess, HandlerInstalledAfterTheLibraryIsChained) {
  HWBP_REQUIRE_HITS();
  Watch w = watch(g_var, Access::write, [](const Hit&) {}, Target::this_thread());
  struct sigaction act {}, old {};
  act.sa_sigaction = user_handler;
  act.sa_flags = SA_SIGINFO;
  ASSERT_EQ(sigaction(SIGTRAP, &act, &old), 0);
  int before = g_user_traps.load();
  raise(SIGTRAP);
  EXPECT_EQ(g_user_traps.load(), before + 1) << "the program's handler did not get its SIGTRAP";
  g_var = 5;
  EXPECT_EQ(w.hits(), 1u) << "the library stopped receiving its hits";
  EXPECT_EQ(g_user_traps.load(), before + 1) << "a library hit leaked to the program's handler";
  struct sigaction now {};
  ASSERT_EQ(sigaction(SIGTRAP, nullptr, &now), 0);
  EXPECT_EQ(reinterpret_cast<void*>(now.sa_sigaction), reinterpret_cast<void*>(user_handler))
      << "the program sees its own handler";
  ASSERT_EQ(sigaction(SIGTRAP, &old, nullptr), 0);
}

TEST(LibraryProcess, HandlerInstalledBeforeTheLibraryIsChained) {
  HWBP_REQUIRE_HITS();
  // A fresh program (the library's handler is not installed yet) installs its own handler,
  // then arms a watch.
  const std::string helper = std::string(HWBP_TEST_HELPER_DIR) + "/hwbp_exec_child";
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    execl(helper.c_str(), helper.c_str(), "--chain-before", static_cast<char*>(nullptr));
    _exit(127);
  }
  EXPECT_EQ(wait_exit_code(child), 0);
}

TEST(LibraryProcess, ForeignPerfTrapNeverKillsTheProcess) {
  HWBP_REQUIRE_HITS();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Install the library's handler (by arming and removing a watch); then a sigtrap event
    // that is not hwbp's fires while the program has no handler: it must be swallowed.
    try {
      Watch w = watch(g_var, Access::write, [](const Hit&) {}, Target::this_thread());
    } catch (...) {
      _exit(41);
    }
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGTRAP, &dfl, nullptr);
    perf_event_attr attr{};
    attr.type = PERF_TYPE_BREAKPOINT;
    attr.size = sizeof attr;
    attr.bp_type = HW_BREAKPOINT_W;
    attr.bp_addr = reinterpret_cast<std::uintptr_t>(&g_var);
    attr.bp_len = 8;
    attr.sample_period = 1;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    attr.sigtrap = 1;
    attr.remove_on_exec = 1;
    attr.sig_data = 0x1234;  // not hwbp's
    int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) _exit(40);
    g_var = 77;
    close(fd);
    _exit(0);
  }
  EXPECT_EQ(wait_exit_code(child), 0) << "killed by a perf SIGTRAP that was not the library's";
}

}  // namespace
}  // namespace hwbp::test
