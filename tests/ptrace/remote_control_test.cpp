// The remote-control layer against real traced programs: /proc/PID/mem writes into read-only
// pages, syscall injection at every kind of stop (and the program's own syscall and signal
// semantics intact afterwards), signals held during a single step, the vector registers.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "hwbp/error.hpp"
#include "ptrace/registers.hpp"
#include "ptrace/remote_memory.hpp"
#include "ptrace/syscall_injector.hpp"
#include "ptrace/tracee.hpp"
#include "support/traced_child.hpp"

namespace hwbp::ptrace {
namespace {

using test::TracedChild;

std::string program() { return std::string(HWBP_PTRACE_PROGRAMS) + "/remote_ops"; }

std::uint64_t parse_addr(const std::string& line) {
  return std::stoull(line.substr(line.find('=') + 1), nullptr, 16);
}

// Resumes the program with PTRACE_CONT (first `stopped`, a thread the test holds in a stop) and
// waits for its exit, passing signals through.
int run_to_exit(TracedChild& c, Tracee* tracee = nullptr, pid_t stopped = 0) {
  if (stopped) ::ptrace(PTRACE_CONT, stopped, nullptr, 0);
  for (;;) {
    if (tracee)
      if (auto d = tracee->take_deferred()) {
        int sig = is_signal_delivery_stop(d->status) ? WSTOPSIG(d->status) : 0;
        tracee->resume(d->tid, PTRACE_CONT, sig);
        continue;
      }
    auto st = c.wait();
    if (!st) return -1;
    auto [tid, status] = *st;
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      if (tid == c.pid()) {
        c.note_exit(status);
        return status;
      }
      continue;
    }
    int sig = is_signal_delivery_stop(status) ? WSTOPSIG(status) : 0;
    ::ptrace(PTRACE_CONT, tid, nullptr, sig);
  }
}

// Waits (up to 10 s) until the running program sleeps in system call `nr` (/proc/PID/syscall).
// "ready" is printed before the program reaches its sigsuspend; a test that needs the signal to
// be deliverable at once must wait for the sleep itself.
bool wait_until_sleeping_in(pid_t pid, long nr) {
  std::string path = "/proc/" + std::to_string(pid) + "/syscall";
  for (int i = 0; i < 10000; ++i) {
    if (FILE* f = std::fopen(path.c_str(), "r")) {
      long got = -1;
      int n = std::fscanf(f, "%ld", &got);
      std::fclose(f);
      if (n == 1 && got == nr) return true;
    }
    ::usleep(1000);
  }
  return false;
}

// From a stop, resumes with PTRACE_SYSCALL until the entry (or exit) of write(1, ..., 8): the
// marker write.
void syscall_stop_at_marker(TracedChild& c, bool at_exit) {
  bool in_marker = false;
  for (;;) {
    ASSERT_EQ(::ptrace(PTRACE_SYSCALL, c.pid(), nullptr, 0), 0);
    auto st = c.wait(c.pid());
    ASSERT_TRUE(st && WIFSTOPPED(st->second)) << "program ended before its marker write";
    if (!is_syscall_stop(st->second)) continue;  // exec and the like: nothing to pass on
    auto r = get_registers(c.pid());
    bool is_marker = r.orig_rax == SYS_write && r.rdi == 1 && r.rdx == 8;
    if (is_marker && !in_marker && !at_exit) return;  // entry
    if (is_marker && in_marker && at_exit) return;    // exit
    if (is_marker) in_marker = !in_marker;
  }
}

TEST(RemoteMemory, WriteLandsInReadOnlyPrivatePage) {
  TracedChild c({program(), "ro_page"});
  ASSERT_EQ(::ptrace(PTRACE_CONT, c.pid(), nullptr, 0), 0);
  auto line = c.read_line();
  ASSERT_TRUE(line);
  std::uint64_t addr = parse_addr(*line);
  RemoteMemory mem(c.pid());
  EXPECT_EQ(mem.read(addr, 2), (std::vector<std::uint8_t>{'A', 'A'}));
  const std::uint8_t b[1] = {'B'};
  mem.write(addr, b);  // the page is PROT_READ in the program: FOLL_FORCE
  c.write_stdin("go\n");
  EXPECT_EQ(c.read_line(), "value=BA");
  EXPECT_EQ(run_to_exit(c), 0);
  // Reading or writing unmapped memory is a typed error, not a crash.
  EXPECT_THROW(mem.read(0x1000, 8), Error);
}

TEST(Injection, AtExecStopMapsAndUnmaps) {
  TracedChild c({program(), "blocked_read"});
  Tracee t(c.pid());
  std::uint64_t gateway = find_syscall_gateway(t);
  {
    InjectionSession s(t, c.pid(), gateway);
    long addr = s(SYS_mmap, 0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_GT(addr, 0);
    const std::uint8_t hello[5] = {'h', 'e', 'l', 'l', 'o'};
    t.memory().write(static_cast<std::uint64_t>(addr), hello);
    EXPECT_EQ(t.memory().read(static_cast<std::uint64_t>(addr), 5),
              std::vector<std::uint8_t>(hello, hello + 5));
    EXPECT_EQ(s(SYS_munmap, addr, 8192), 0);
    EXPECT_EQ(s(SYS_getpid), c.pid());
    EXPECT_FALSE(s.rewound());
    s.finish();
  }
  // The program starts normally after the exec stop we borrowed.
  ASSERT_EQ(::ptrace(PTRACE_CONT, c.pid(), nullptr, 0), 0);
  EXPECT_EQ(c.read_line(), "ready");
  c.write_stdin("abc");
  EXPECT_EQ(c.read_line(), "got=abc n=3");
  EXPECT_EQ(run_to_exit(c), 0);
}

TEST(Injection, AtInterruptStopOfBlockedReadKeepsTheRead) {
  TracedChild c({program(), "blocked_read"});
  Tracee t(c.pid());
  std::uint64_t gateway = find_syscall_gateway(t);
  ASSERT_EQ(::ptrace(PTRACE_CONT, c.pid(), nullptr, 0), 0);
  ASSERT_EQ(c.read_line(), "ready");
  ::usleep(20000);  // let it block in read(2)
  ASSERT_EQ(::ptrace(PTRACE_INTERRUPT, c.pid(), nullptr, nullptr), 0);
  auto st = c.wait(c.pid());
  ASSERT_TRUE(st);
  ASSERT_EQ(ptrace_event(st->second), PTRACE_EVENT_STOP);
  {
    InjectionSession s(t, c.pid(), gateway);
    EXPECT_EQ(s(SYS_getpid), c.pid());
    s.finish();
  }
  // The interrupted read(2) restarts as if nothing happened (orig_rax restored after our call).
  ASSERT_EQ(::ptrace(PTRACE_CONT, c.pid(), nullptr, 0), 0);
  c.write_stdin("xyz");
  EXPECT_EQ(c.read_line(), "got=xyz n=3");
  EXPECT_EQ(run_to_exit(c), 0);
}

TEST(Injection, AtSyscallEntryStopRewindsTheSyscall) {
  TracedChild c({program(), "marker"});
  Tracee t(c.pid());
  std::uint64_t gateway = find_syscall_gateway(t);
  c.write_stdin("go\n");
  syscall_stop_at_marker(c, false);
  {
    InjectionSession s(t, c.pid(), gateway);
    EXPECT_EQ(s(SYS_getpid), c.pid());
    EXPECT_TRUE(s.rewound());
    s.finish();
  }
  // The thread re-executes the syscall instruction: the next syscall stop is the same entry.
  ASSERT_EQ(::ptrace(PTRACE_SYSCALL, c.pid(), nullptr, 0), 0);
  auto st = c.wait(c.pid());
  ASSERT_TRUE(st && is_syscall_stop(st->second));
  auto r = get_registers(c.pid());
  EXPECT_EQ(r.orig_rax, static_cast<unsigned long long>(SYS_write));
  EXPECT_EQ(r.rdx, 8u);
  EXPECT_EQ(run_to_exit(c, nullptr, c.pid()), 0);
  EXPECT_EQ(c.output(), "ready\nmarker!\nr=8\n");  // written once, result intact
}

TEST(Injection, AtSyscallExitStopKeepsTheResult) {
  TracedChild c({program(), "marker"});
  Tracee t(c.pid());
  std::uint64_t gateway = find_syscall_gateway(t);
  c.write_stdin("go\n");
  syscall_stop_at_marker(c, true);
  {
    InjectionSession s(t, c.pid(), gateway);
    EXPECT_EQ(s(SYS_getpid), c.pid());
    EXPECT_FALSE(s.rewound());
    s.finish();
  }
  EXPECT_EQ(run_to_exit(c, nullptr, c.pid()), 0);
  EXPECT_EQ(c.output(), "ready\nmarker!\nr=8\n");
}

TEST(Injection, AtSignalDeliveryStopKeepsTheSiginfo) {
  TracedChild c({program(), "sigusr1"});
  Tracee t(c.pid());
  std::uint64_t gateway = find_syscall_gateway(t);
  ASSERT_EQ(::ptrace(PTRACE_CONT, c.pid(), nullptr, 0), 0);
  ASSERT_EQ(c.read_line(), "ready");
  sigval v{};
  v.sival_int = 42;
  ASSERT_EQ(::sigqueue(c.pid(), SIGUSR1, v), 0);
  auto st = c.wait(c.pid());
  ASSERT_TRUE(st && is_signal_delivery_stop(st->second) && WSTOPSIG(st->second) == SIGUSR1);
  {
    InjectionSession s(t, c.pid(), gateway);
    EXPECT_EQ(s(SYS_getpid), c.pid());
    s.finish();
  }
  ASSERT_EQ(::ptrace(PTRACE_CONT, c.pid(), nullptr, SIGUSR1), 0);
  EXPECT_EQ(run_to_exit(c), 0);
  EXPECT_EQ(c.output(), "code=" + std::to_string(SI_QUEUE) + " value=42\n");
}

TEST(Tracee, SignalArrivingDuringAStepIsHeldAndReplayed) {
  TracedChild c({program(), "sigusr1"});
  Tracee t(c.pid());
  std::uint64_t gateway = find_syscall_gateway(t);
  ASSERT_EQ(::ptrace(PTRACE_CONT, c.pid(), nullptr, 0), 0);
  ASSERT_EQ(c.read_line(), "ready");
  ASSERT_TRUE(wait_until_sleeping_in(c.pid(), SYS_rt_sigsuspend));
  // Stop it (in sigsuspend, SIGUSR1 unblocked), then queue a signal: it is pending when the
  // injection steps.
  ASSERT_EQ(::ptrace(PTRACE_INTERRUPT, c.pid(), nullptr, nullptr), 0);
  auto st = c.wait(c.pid());
  ASSERT_TRUE(st && ptrace_event(st->second) == PTRACE_EVENT_STOP);
  sigval v{};
  v.sival_int = 7;
  ASSERT_EQ(::sigqueue(c.pid(), SIGUSR1, v), 0);
  {
    InjectionSession s(t, c.pid(), gateway);
    EXPECT_EQ(s(SYS_getpid), c.pid());
    s.finish();
  }
  EXPECT_TRUE(t.has_held_signals(c.pid()));
  // Resuming hands the held signal back as a stop of its own, with its siginfo.
  EXPECT_FALSE(t.resume(c.pid(), PTRACE_CONT, 0));
  auto d = t.take_deferred();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->tid, c.pid());
  ASSERT_TRUE(is_signal_delivery_stop(d->status));
  EXPECT_EQ(WSTOPSIG(d->status), SIGUSR1);
  siginfo_t info{};
  ASSERT_EQ(::ptrace(PTRACE_GETSIGINFO, c.pid(), nullptr, &info), 0);
  EXPECT_EQ(info.si_value.sival_int, 7);
  EXPECT_TRUE(t.resume(c.pid(), PTRACE_CONT, SIGUSR1));
  EXPECT_EQ(run_to_exit(c, &t), 0);
  EXPECT_EQ(c.output(), "code=" + std::to_string(SI_QUEUE) + " value=7\n");
}

TEST(Registers, ExtendedStateHoldsTheVectorRegisters) {
  TracedChild c({program(), "vectors"});
  ASSERT_EQ(::ptrace(PTRACE_CONT, c.pid(), nullptr, 0), 0);
  auto st = c.wait(c.pid());
  ASSERT_TRUE(st && is_signal_delivery_stop(st->second) && WSTOPSIG(st->second) == SIGTRAP);
  ExtendedState x = ExtendedState::read(c.pid());
  ASSERT_GE(x.raw().size(), 576u + 32u);
  // xmm0 in the legacy area at 160; ymm1's upper half in the AVX component at 576 + 16.
  for (int i = 0; i < 16; ++i) EXPECT_EQ(x.raw()[160 + i], i + 1);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(x.raw()[576 + 16 + i], i + 17);
  ASSERT_EQ(::ptrace(PTRACE_CONT, c.pid(), nullptr, 0), 0);
  EXPECT_EQ(run_to_exit(c), 0);
}

}  // namespace
}  // namespace hwbp::ptrace
