// Kernel writes into watched memory (read(2), recv, getrandom, readv: redirected; fstat, pipe2:
// released and diffed) and the program's memory management (its own mprotect, madvise, fork,
// munmap, mremap) under the ptrace page transport: the program is unharmed (no EFAULT, its
// child unhurt), every change is reported with the system call's name, and a watch whose
// memory goes away ends with a clear event.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "support/page_tracer.hpp"
#include "support/report_line.hpp"
#include "support/traced_child.hpp"

namespace hwbp::ptrace {
namespace {

using test::address_field;
using test::field;
using test::PageTracer;
using test::TracedChild;

std::string text(const std::vector<std::uint8_t>& b) { return std::string(b.begin(), b.end()); }

std::string hex(const std::vector<std::uint8_t>& b) {
  std::string s;
  char x[3];
  for (auto v : b) {
    std::snprintf(x, sizeof x, "%02x", v);
    s += x;
  }
  return s;
}

TEST(PageKernel, KernelWritesAndMemoryManagement) {
  TracedChild c({std::string(HWBP_PTRACE_PROGRAMS) + "/page_kernel"});
  PageTracer t(c);
  std::uint64_t inbuf = 0, m = 0, m2 = 0, w_in = 0, w_m = 0, w_m2 = 0;
  t.on_arm_point = [&](pid_t tid) {
    auto line = c.read_line();
    ASSERT_TRUE(line);
    inbuf = address_field(*line, "inbuf");
    m = address_field(*line, "m");
    m2 = address_field(*line, "m2");
    w_in = t.transport().arm(tid, inbuf, 8192, Access::write);
    w_m = t.transport().arm(tid, m, 4 * 4096, Access::modify);
    w_m2 = t.transport().arm(tid, m2, 2 * 4096, Access::write);
  };
  int status = t.run();
  ASSERT_TRUE(WIFEXITED(status)) << status << "\n" << c.output();
  EXPECT_EQ(WEXITSTATUS(status), 0);

  // What the program saw: every call succeeded with the right data.
  std::vector<std::string> lines;
  while (auto l = c.read_line(std::chrono::seconds(5))) lines.push_back(*l);
  ASSERT_EQ(lines.size(), 12u) << c.output();
  EXPECT_EQ(lines[0], "read=11 hello world");
  EXPECT_EQ(lines[1], "recv=4 ping");
  EXPECT_EQ(lines[2].substr(0, 12), "getrandom=16");
  EXPECT_EQ(lines[3], "readv=8 abcdefgh");
  EXPECT_EQ(lines[4], "fstat=0 fifo=1");
  EXPECT_EQ(lines[5], "pipe2=0 1");
  EXPECT_EQ(lines[6], "mprotect=0 m0=2");
  EXPECT_EQ(lines[7], "madvise=0 m4096=0");
  EXPECT_EQ(lines[8], "child=42");
  EXPECT_EQ(lines[9], "munmap=0 again=1");
  EXPECT_EQ(lines[10], "mremap=1 m3=10");
  EXPECT_EQ(lines[11], "done");

  // What was reported.
  auto find = [&](std::uint64_t addr, const char* syscall) -> const PageHit* {
    for (const PageHit& h : t.hits())
      if (h.addr == addr && ((syscall == nullptr && h.syscall == nullptr) ||
                             (syscall && h.syscall && std::string(h.syscall) == syscall)))
        return &h;
    return nullptr;
  };
  const PageHit* h = find(inbuf + 100, "read");
  ASSERT_TRUE(h);
  EXPECT_EQ(text(h->new_bytes), "hello world");
  EXPECT_EQ(h->old_bytes, std::vector<std::uint8_t>(11, 0));
  EXPECT_EQ(h->watch_id, w_in);
  ASSERT_TRUE(h = find(inbuf + 200, "recvfrom"));
  EXPECT_EQ(text(h->new_bytes), "ping");
  ASSERT_TRUE(h = find(inbuf + 300, "getrandom"));
  EXPECT_EQ(hex(h->new_bytes), lines[2].substr(13));
  ASSERT_TRUE(h = find(inbuf + 400, "readv"));
  EXPECT_EQ(text(h->new_bytes), "abc");
  ASSERT_TRUE(h = find(inbuf + 500, "readv"));
  EXPECT_EQ(text(h->new_bytes), "defgh");
  EXPECT_TRUE(std::any_of(t.hits().begin(), t.hits().end(), [&](const PageHit& x) {
    // glibc's fstat is the newfstatat system call (AT_EMPTY_PATH).
    return x.syscall && (std::string(x.syscall) == "fstat" || std::string(x.syscall) == "newfstatat") &&
           x.addr >= inbuf + 1024 && x.addr < inbuf + 1024 + 144;
  }));
  EXPECT_TRUE(std::any_of(t.hits().begin(), t.hits().end(), [&](const PageHit& x) {
    return x.syscall && std::string(x.syscall) == "pipe2" && x.addr >= inbuf + 2048 && x.addr < inbuf + 2056;
  }));
  ASSERT_TRUE(h = find(m, nullptr));  // after the program's own mprotect(RW)
  EXPECT_EQ(h->old_bytes, std::vector<std::uint8_t>{1});
  EXPECT_EQ(h->new_bytes, std::vector<std::uint8_t>{2});
  ASSERT_TRUE(h = find(m + 4096, "madvise"));
  EXPECT_EQ(h->old_bytes, std::vector<std::uint8_t>(4096, 1));
  EXPECT_EQ(h->new_bytes, std::vector<std::uint8_t>(4096, 0));
  ASSERT_TRUE(h = find(inbuf + 1, nullptr));
  EXPECT_EQ(h->new_bytes, std::vector<std::uint8_t>{0x77});
  // The forked child's stores are its own: not reported, child detached and unhurt.
  EXPECT_EQ(find(inbuf, nullptr), nullptr);
  EXPECT_EQ(find(m + 8, nullptr), nullptr);
  EXPECT_EQ(t.forks_detached(), 1u);
  // After the munmap the watch on m is over: m[5] = 6 is not reported.
  EXPECT_EQ(find(m + 5, nullptr), nullptr);
  ASSERT_EQ(t.ends().size(), 2u);
  EXPECT_EQ(t.ends()[0].watch_id, w_m);
  EXPECT_EQ(t.ends()[0].reason, "its memory was unmapped by munmap");
  EXPECT_EQ(t.ends()[1].watch_id, w_m2);
  EXPECT_NE(t.ends()[1].reason.find("moved by mremap"), std::string::npos) << t.ends()[1].reason;
  EXPECT_TRUE(t.transport().alive(w_in));
  EXPECT_FALSE(t.transport().alive(w_m));
  PageStats st = t.transport().stats();
  EXPECT_GE(st.redirected, 4u);
  EXPECT_GE(st.released_calls, 2u);
  EXPECT_EQ(st.foreign_faults, 0u);
}

}  // namespace
}  // namespace hwbp::ptrace
