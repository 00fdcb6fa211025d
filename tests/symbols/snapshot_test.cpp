// backtrace_snapshot: unwinding a forked child from the registers and stack copy it captured of
// itself in f3 (called through f1 -> f2 -> f3), as the BPF program will at a breakpoint hit.
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "symbols/snapshot_unwinder.hpp"
#include "symbols/symbol_error.hpp"
#include "symbols/symbol_table.hpp"
#include "symbols/unwinder.hpp"

namespace {

constexpr std::size_t kStackCopy = 8192;

// What the child sends: a snapshot of itself taken inside hwbp_snap_f3.
struct Capture {
  std::uint64_t regs[hwbp::symbols::kDwarfRegisters];
  std::uint64_t stack_start;
  std::uint64_t size;
  std::uint64_t fn[3];  // f1, f2, f3
  std::uint8_t stack[kStackCopy];
};

Capture g_capture;                // the child's copy is filled in and sent
std::uint64_t g_stack_top = 0;    // end of the stack mapping, found before fork
int g_report_fd = -1;

// Stores the registers as they are at this point of the *calling* function (always inlined):
// rsp, rbp and rip must be the caller's for its CFI to apply. Plain asm stores are invisible to
// ASan, and the asm does not move rsp.
__attribute__((always_inline)) inline void capture_registers(std::uint64_t* r) {
  asm volatile(
      "movq %%rax, 0(%0)\n\t"
      "movq %%rdx, 8(%0)\n\t"
      "movq %%rcx, 16(%0)\n\t"
      "movq %%rbx, 24(%0)\n\t"
      "movq %%rsi, 32(%0)\n\t"
      "movq %%rdi, 40(%0)\n\t"
      "movq %%rbp, 48(%0)\n\t"
      "movq %%rsp, 56(%0)\n\t"
      "movq %%r8, 64(%0)\n\t"
      "movq %%r9, 72(%0)\n\t"
      "movq %%r10, 80(%0)\n\t"
      "movq %%r11, 88(%0)\n\t"
      "movq %%r12, 96(%0)\n\t"
      "movq %%r13, 104(%0)\n\t"
      "movq %%r14, 112(%0)\n\t"
      "movq %%r15, 120(%0)\n\t"
      "1: leaq 1b(%%rip), %%rcx\n\t"
      "movq %%rcx, 128(%0)\n\t"
      :
      : "r"(r)
      : "rcx", "memory");
}

// rep movsb, not memcpy: the copy crosses the callers' frames, whose ASan redzones an
// instrumented (or intercepted) copy would report.
void copy_stack(std::uint8_t* dst, std::uint64_t from, std::uint64_t n) {
  const void* src = reinterpret_cast<const void*>(from);
  asm volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

void write_all(int fd, const void* data, std::size_t n) {
  auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t k = ::write(fd, p, n);
    if (k <= 0) ::_exit(3);
    p += k;
    n -= static_cast<std::size_t>(k);
  }
}

bool read_all(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t k = ::read(fd, p, n);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

}  // namespace

// extern "C" and external: plain names in .symtab for the range checks. noinline + work after
// each call: no inlining and no tail calls, so each function keeps its own frame.
extern "C" {
__attribute__((noinline)) int hwbp_snap_f1(int x);
__attribute__((noinline)) int hwbp_snap_f2(int x);
__attribute__((noinline)) int hwbp_snap_f3(int x);

int hwbp_snap_f3(int x) {
  capture_registers(g_capture.regs);
  std::uint64_t rsp = g_capture.regs[hwbp::symbols::kDwarfRsp];
  g_capture.stack_start = rsp;
  g_capture.size = std::min<std::uint64_t>(kStackCopy, g_stack_top - rsp);
  copy_stack(g_capture.stack, rsp, g_capture.size);
  g_capture.fn[0] = reinterpret_cast<std::uint64_t>(&hwbp_snap_f1);
  g_capture.fn[1] = reinterpret_cast<std::uint64_t>(&hwbp_snap_f2);
  g_capture.fn[2] = reinterpret_cast<std::uint64_t>(&hwbp_snap_f3);
  write_all(g_report_fd, &g_capture, sizeof g_capture);
  return x * 3 + 1;
}
int hwbp_snap_f2(int x) { return hwbp_snap_f3(x + 2) * 5 + 2; }
int hwbp_snap_f1(int x) { return hwbp_snap_f2(x + 1) * 7 + 3; }
}

namespace hwbp::symbols {
namespace {

std::uint64_t stack_top() {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) throw std::runtime_error("getattr");
  void* addr = nullptr;
  std::size_t size = 0;
  pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  return reinterpret_cast<std::uint64_t>(addr) + size;
}

// A forked copy of this test binary that snapshots itself in f3, then obeys commands on a pipe:
// 'u' unloads the fixture library (to change its maps) and answers 'k'; EOF makes it exit.
class SnapshotChild {
 public:
  SnapshotChild() {
    g_stack_top = stack_top();  // before fork: pthread_getattr_np reads /proc and allocates
    int report[2], cmd[2];
    if (::pipe2(report, O_CLOEXEC) != 0 || ::pipe2(cmd, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::close(report[0]);
      ::close(cmd[1]);  // else the child never sees EOF on its command pipe
      run_child(report[1], cmd[0]);
    }
    ::close(report[1]);
    ::close(cmd[0]);
    cmd_fd_ = cmd[1];
    report_fd_ = report[0];
    if (!read_all(report_fd_, &capture_, sizeof capture_))
      throw std::runtime_error("no snapshot from the child");
  }
  ~SnapshotChild() {
    ::close(cmd_fd_);
    ::close(report_fd_);
    int status;
    ::waitpid(pid_, &status, 0);
  }

  pid_t pid() const { return pid_; }
  const Capture& capture() const { return capture_; }
  StackSnapshot snapshot(std::size_t size) const {
    StackSnapshot s;
    s.tid = pid_;
    std::copy(std::begin(capture_.regs), std::end(capture_.regs), s.regs.begin());
    s.stack_start = capture_.stack_start;
    s.bytes = capture_.stack;
    s.size = std::min<std::size_t>(size, capture_.size);
    return s;
  }
  bool unload_library() {
    char c = 'u';
    write_all(cmd_fd_, &c, 1);
    return read_all(report_fd_, &c, 1) && c == 'k';
  }

 private:
  [[noreturn]] static void run_child(int report_fd, int cmd_fd) {
    void* lib = ::dlopen(HWBP_SYMFIX_LIB, RTLD_NOW);
    g_report_fd = report_fd;
    if (hwbp_snap_f1(1) == 0) ::_exit(4);  // uses the result: f1's call is no tail call
    char c;
    while (::read(cmd_fd, &c, 1) == 1) {
      if (c == 'u' && lib) ::dlclose(lib), lib = nullptr;
      write_all(report_fd, "k", 1);
    }
    ::_exit(0);  // no atexit handlers or gtest teardown in the child
  }

  pid_t pid_ = -1;
  int cmd_fd_ = -1, report_fd_ = -1;
  Capture capture_{};
};

class SnapshotUnwind : public ::testing::Test {
 protected:
  bool in_function(const Frame& f, const char* name) {
    ResolvedSymbol s = table.resolve(name);
    std::uint64_t a = f.lookup_address();
    return a >= s.symbol_address && a < s.symbol_address + std::max<std::uint64_t>(s.size, 1);
  }

  SnapshotChild child;
  std::shared_ptr<ProcessImage> image = ProcessImage::open(child.pid());
  SymbolTable table{image};
};

TEST_F(SnapshotUnwind, FramesOfF3F2F1InOrder) {
  const Capture& c = child.capture();
  ASSERT_GE(c.size, 512u);
  EXPECT_EQ(table.resolve("hwbp_snap_f1").symbol_address, c.fn[0]);
  EXPECT_EQ(table.resolve("hwbp_snap_f3").symbol_address, c.fn[2]);

  auto frames = backtrace_snapshot(*image, child.snapshot(kStackCopy));
  ASSERT_GE(frames.size(), 4u);
  EXPECT_EQ(frames[0].pc, c.regs[kDwarfRip]);
  EXPECT_FALSE(frames[0].is_return_address);
  EXPECT_TRUE(in_function(frames[0], "hwbp_snap_f3")) << std::hex << frames[0].pc;
  EXPECT_TRUE(in_function(frames[1], "hwbp_snap_f2")) << std::hex << frames[1].pc;
  EXPECT_TRUE(in_function(frames[2], "hwbp_snap_f1")) << std::hex << frames[2].pc;
  EXPECT_TRUE(frames[1].is_return_address);
}

TEST_F(SnapshotUnwind, MaxFramesIsHonoured) {
  auto frames = backtrace_snapshot(*image, child.snapshot(kStackCopy), 2);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_TRUE(in_function(frames[1], "hwbp_snap_f2"));
}

// The stack beyond the copy is never read live (it has moved on): the chain just ends.
TEST_F(SnapshotUnwind, TruncatedCopyGivesFewerFrames) {
  auto full = backtrace_snapshot(*image, child.snapshot(kStackCopy));
  auto cut = backtrace_snapshot(*image, child.snapshot(64));
  ASSERT_GE(cut.size(), 1u);
  EXPECT_LT(cut.size(), full.size());
  EXPECT_EQ(cut[0].pc, child.capture().regs[kDwarfRip]);
  for (std::size_t i = 0; i < cut.size(); ++i) EXPECT_EQ(cut[i].pc, full[i].pc) << i;
  EXPECT_EQ(backtrace_snapshot(*image, child.snapshot(0)).size(), 1u);  // no stack at all
}

TEST_F(SnapshotUnwind, BogusRegistersGiveAtMostOneFrame) {
  StackSnapshot s = child.snapshot(kStackCopy);
  s.regs.fill(0x4141414141414141ull);  // rip, rsp and rbp point nowhere
  std::vector<Frame> frames;
  EXPECT_NO_THROW(frames = backtrace_snapshot(*image, s));
  EXPECT_LE(frames.size(), 1u);
  s.regs.fill(0);
  s.bytes = nullptr;
  s.size = 0;
  try {
    EXPECT_LE(backtrace_snapshot(*image, s).size(), 1u);
  } catch (const SymbolError&) {  // allowed: no frame at all
  }
}

// refresh() reports the modules again (here one fewer): the attached state must survive it.
TEST_F(SnapshotUnwind, StateSurvivesRefresh) {
  auto before = backtrace_snapshot(*image, child.snapshot(kStackCopy));
  auto lib_loaded = [&] {
    bool found = false;
    image->for_each_module([&](const ModuleInfo& m) {
      found = m.path.find("libhwbp_symfix.so") != std::string::npos;
      return !found;
    });
    return found;
  };
  ASSERT_TRUE(lib_loaded());
  ASSERT_TRUE(child.unload_library());
  image->refresh();
  EXPECT_FALSE(lib_loaded());
  auto after = backtrace_snapshot(*image, child.snapshot(kStackCopy));
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i].pc, before[i].pc) << i;
}

TEST_F(SnapshotUnwind, LiveAndSnapshotModesAreExclusive) {
  backtrace_snapshot(*image, child.snapshot(kStackCopy));
  try {
    backtrace_thread(*image, child.pid(), false);
    FAIL() << "expected an error";
  } catch (const SymbolError& e) {
    EXPECT_EQ(e.symbol_code(), SymbolErrc::unsupported) << e.what();
  }
  auto live = ProcessImage::open(child.pid());
  live->attach_for_unwinding(false);
  EXPECT_THROW(backtrace_snapshot(*live, child.snapshot(kStackCopy)), SymbolError);
}

}  // namespace
}  // namespace hwbp::symbols
