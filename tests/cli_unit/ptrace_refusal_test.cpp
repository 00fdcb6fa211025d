// Why PTRACE_SEIZE refused (issue 12): /proc/PID/stat parsing, and the reasons named for real
// processes that ptrace refuses whatever the caller's privilege.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "ptrace_refusal.hpp"

namespace hwbp::cli {
namespace {

TEST(ProcStat, ParsesTheFieldsAfterTheCommandName) {
  const ProcStat st = parse_proc_stat("42 (a) b) (c) Z 7 42 42 0 -1 4194380 0 0");
  ASSERT_TRUE(st.valid);
  EXPECT_EQ(st.state, 'Z');
  EXPECT_EQ(st.ppid, 7);
  EXPECT_EQ(st.flags, 4194380u);
  EXPECT_FALSE(parse_proc_stat("").valid);
  EXPECT_FALSE(parse_proc_stat("42 (x").valid);
  EXPECT_FALSE(parse_proc_stat("42 (x) S 1").valid);
}

TEST(PtraceRefusal, AKernelThreadIsNamedAsSuch) {
  // kthreadd is pid 2 on every Linux system (kernel/kthread.c, rest_init).
  const ProcStat st = read_proc_stat(2);
  if (!st.valid || !(st.flags & kPfKthread)) GTEST_SKIP() << "no kernel thread visible as pid 2 here";
  const std::string msg = ptrace_refusal(2, EPERM).what();
  EXPECT_EQ(msg, "process 2 is a kernel thread: it runs no user code to watch; pass the id of a "
                 "user process");
}

TEST(PtraceRefusal, AZombieIsNamedAsSuchNotAsMissingPrivilege) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, child, &info, WEXITED | WNOWAIT), 0);  // exited, not reaped: a zombie
  const std::string msg = ptrace_refusal(child, EPERM).what();
  EXPECT_EQ(msg, "process " + std::to_string(child) + " has exited (a zombie until its parent, "
                 "process " + std::to_string(getpid()) + ", reaps it): there is nothing left to watch");
  EXPECT_TRUE(thread_has_exited(child, child));
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(thread_has_exited(child, child));  // gone
}

TEST(PtraceRefusal, HwbpItself) {
  const std::string msg = ptrace_refusal(getpid(), EPERM).what();
  EXPECT_NE(msg.find("is this hwbp itself"), std::string::npos) << msg;
  EXPECT_FALSE(thread_has_exited(getpid(), getpid()));
}

}  // namespace
}  // namespace hwbp::cli
