// The ptrace page transport in the situations a program creates around a watch: its own
// SIGSEGV handler, a detach mid-run, watches from 1 byte to 16 MiB and 1000 of them, the modify
// filter, signal frames on a watched stack, a thread blocked in read(2) when the watch is
// armed, posix_spawn's CLONE_VM child, exec, and the one-line refusals.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "hwbp/error.hpp"
#include "support/page_tracer.hpp"
#include "support/report_line.hpp"
#include "support/traced_child.hpp"

namespace hwbp::ptrace {
namespace {

using test::address_field;
using test::field;
using test::PageTracer;
using test::TracedChild;

struct Scenario {
  explicit Scenario(const char* mode)
      : child({std::string(HWBP_PTRACE_PROGRAMS) + "/page_misc", mode}), tracer(child) {}
  // Arms `watch(line, tid)` at the arm point.
  template <typename F>
  void at_arm(F watch) {
    tracer.on_arm_point = [this, watch](pid_t tid) {
      auto line = child.read_line();
      ASSERT_TRUE(line);
      watch(*line, tid);
    };
  }
  int run() { return tracer.run(); }
  PageTransport& transport() { return tracer.transport(); }
  TracedChild child;
  PageTracer tracer;
};

long value(const std::vector<std::uint8_t>& b) {
  long v = 0;
  std::memcpy(&v, b.data(), std::min(b.size(), sizeof v));
  return v;
}

TEST(PageMisc, ProgramsOwnSigsegvHandlerStillGetsItsFaults) {
  Scenario s("segv");
  s.at_arm([&](const std::string& l, pid_t tid) {
    s.transport().arm(tid, address_field(l, "counter"), 8, Access::write);
  });
  int status = s.run();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(s.child.read_line(), "handled=1 own=5 counter=2");
  ASSERT_EQ(s.tracer.hits().size(), 2u);
  EXPECT_EQ(value(s.tracer.hits()[0].new_bytes), 1);
  EXPECT_EQ(value(s.tracer.hits()[1].new_bytes), 2);
  EXPECT_EQ(s.transport().stats().foreign_faults, 1u);  // its own, passed on
}

TEST(PageMisc, DetachMidRunLeavesTheProgramUnprotectedAndRunning) {
  Scenario s("detach");
  s.at_arm([&](const std::string& l, pid_t tid) {
    s.transport().arm(tid, address_field(l, "counter"), 8, Access::write);
  });
  s.tracer.detach_now = [&] { return s.tracer.hit_count() >= 500; };
  EXPECT_EQ(s.run(), -1);
  // The program runs on unwatched: all its 20,000 stores land and it exits normally.
  EXPECT_EQ(s.child.read_line(), "counter=20000");
  int status = 0;
  ASSERT_EQ(::waitpid(s.child.pid(), &status, 0), s.child.pid());
  s.child.note_exit(status);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(s.tracer.hit_count(), 500u);
}

TEST(PageMisc, OneByteSixteenMegabytesAndAThousandWatches) {
  Scenario s("sizes");
  std::uint64_t counter = 0, big = 0, many = 0, w_byte = 0, w_big = 0;
  std::vector<std::uint64_t> w_many;
  s.at_arm([&](const std::string& l, pid_t tid) {
    counter = address_field(l, "counter");
    big = address_field(l, "big");
    many = address_field(l, "many");
    w_byte = s.transport().arm(tid, counter, 1, Access::modify);
    w_big = s.transport().arm(tid, big, 16u << 20, Access::write);
    for (int i = 0; i < 1000; ++i)
      w_many.push_back(s.transport().arm(tid, many + i * 4096ull + 100, 1, Access::write));
  });
  s.tracer.keep_hits = false;
  std::vector<std::uint8_t> mirror(16u << 20, 0);
  std::uint64_t big_hits = 0, bad = 0, byte_hits = 0;
  std::vector<int> many_seen(1000, -1);
  s.tracer.on_hit = [&](const PageHit& h) {
    if (h.watch_id == w_big) {
      ++big_hits;
      const std::size_t off = h.addr - big;
      if (std::memcmp(h.old_bytes.data(), mirror.data() + off, h.old_bytes.size()) != 0) ++bad;
      std::memcpy(mirror.data() + off, h.new_bytes.data(), h.new_bytes.size());
    } else if (h.watch_id == w_byte) {
      ++byte_hits;
      if (h.new_bytes != std::vector<std::uint8_t>{3}) ++bad;
    } else {
      const std::size_t i = (h.addr - many - 100) / 4096;
      if (i >= 1000 || h.watch_id != w_many[i] || h.new_bytes.size() != 1)
        ++bad;
      else
        many_seen[i] = h.new_bytes[0];
    }
  };
  int status = s.run();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(byte_hits, 1u);
  EXPECT_GT(big_hits, 0u);
  auto copied = [](std::size_t i) {
    return i < (1u << 20) || (i >= (8u << 20) && i < (8u << 20) + (64u << 10)) || i == (16u << 20) - 1;
  };
  std::vector<std::uint8_t> expected(mirror.size());  // memset's then memcpy's result
  for (std::size_t i = 0; i < expected.size(); ++i)
    expected[i] = copied(i) ? static_cast<std::uint8_t>(i * 13 + 7) : 0x5a;
  auto diff = std::mismatch(mirror.begin(), mirror.end(), expected.begin());
  EXPECT_EQ(diff.first, mirror.end()) << "first wrong byte at " << (diff.first - mirror.begin());
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(many_seen[std::size_t(i)], i & 0xff) << i;
  unsigned long sum = 0;
  for (std::size_t i = 0; i < mirror.size(); i += 4096) sum += mirror[i];
  EXPECT_EQ(s.child.read_line(), "sum=" + std::to_string(sum));
}

TEST(PageMisc, ModifyReportsOnlyChanges) {
  Scenario s("modify");
  std::uint64_t id = 0;
  s.at_arm([&](const std::string& l, pid_t tid) {
    id = s.transport().arm(tid, address_field(l, "same"), 8, Access::modify);
  });
  int status = s.run();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_EQ(s.tracer.hits().size(), 2u);
  EXPECT_EQ(value(s.tracer.hits()[0].new_bytes), 5);
  EXPECT_EQ(value(s.tracer.hits()[1].old_bytes), 5);
  EXPECT_EQ(value(s.tracer.hits()[1].new_bytes), 6);
}

TEST(PageMisc, SignalFramesOnAWatchedStack) {
  Scenario s("signal");
  std::uint64_t local = 0, id = 0;
  s.at_arm([&](const std::string& l, pid_t tid) {
    local = address_field(l, "local");
    // The variable and the 16 KiB of stack below it, where raise() runs and the kernel writes
    // the signal frames.
    id = s.transport().arm(tid, local - 16384, 16384 + 8, Access::write);
  });
  int status = s.run();
  ASSERT_TRUE(WIFEXITED(status)) << status << " " << s.child.output();
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(s.child.read_line(), "got=2 local=12");
  std::vector<long> values;
  std::size_t frame_hits = 0;
  for (const PageHit& h : s.tracer.hits()) {
    if (h.watch_id == id && h.addr == local && h.syscall == nullptr) values.push_back(value(h.new_bytes));
    if (h.syscall && std::string(h.syscall) == "signal frame") ++frame_hits;
  }
  EXPECT_EQ(values, (std::vector<long>{11, 12}));
  EXPECT_EQ(s.transport().stats().signal_frames, 2u);
  EXPECT_GE(frame_hits, 2u);
}

TEST(PageMisc, ThreadBlockedInReadWhenArmedGetsItsDataReported) {
  Scenario s("blocked");
  std::uint64_t buf = 0;
  s.at_arm([&](const std::string& l, pid_t tid) {
    buf = address_field(l, "buf");
    s.transport().arm(tid, buf, 64, Access::write);
  });
  int status = s.run();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(s.child.read_line(), "blocked read=9 late data");
  ASSERT_EQ(s.tracer.hits().size(), 1u);
  EXPECT_STREQ(s.tracer.hits()[0].syscall, "read");
  EXPECT_EQ(s.tracer.hits()[0].addr, buf);
  EXPECT_EQ(std::string(s.tracer.hits()[0].new_bytes.begin(), s.tracer.hits()[0].new_bytes.end()),
            "late data");
}

TEST(PageMisc, PosixSpawnChildSharesMemoryUntilExec) {
  Scenario s("spawn");
  s.at_arm([&](const std::string& l, pid_t tid) {
    s.transport().arm(tid, address_field(l, "counter"), 8, Access::write);
  });
  int status = s.run();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(s.child.read_line(), "spawn=0 status=5 counter=2");
  std::vector<long> values;
  for (const PageHit& h : s.tracer.hits()) values.push_back(value(h.new_bytes));
  EXPECT_EQ(values, (std::vector<long>{1, 2}));
}

TEST(PageMisc, ExecEndsTheWatches) {
  Scenario s("exec");
  std::uint64_t id = 0;
  s.at_arm([&](const std::string& l, pid_t tid) {
    id = s.transport().arm(tid, address_field(l, "counter"), 8, Access::write);
  });
  int status = s.run();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 3);
  EXPECT_EQ(s.child.read_line(), "execd");
  ASSERT_EQ(s.tracer.hits().size(), 1u);
  ASSERT_EQ(s.tracer.ends().size(), 1u);
  EXPECT_EQ(s.tracer.ends()[0].watch_id, id);
  EXPECT_NE(s.tracer.ends()[0].reason.find("execve"), std::string::npos);
  EXPECT_EQ(s.transport().armed_count(), 0u);
}

TEST(PageMisc, RefusalsSayWhyInOneLine) {
  Scenario s("shared");
  s.at_arm([&](const std::string& l, pid_t tid) {
    const std::uint64_t shared = address_field(l, "shared"), counter = address_field(l, "counter");
    auto refused = [&](std::uint64_t a, std::uint64_t n, Access acc, const char* why) {
      try {
        s.transport().arm(tid, a, n, acc);
        ADD_FAILURE() << "armed " << why;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::invalid_request) << e.what();
        EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
      }
    };
    refused(counter, 8, Access::read_write, "stores only");
    refused(counter, 8, Access::read, "stores only");
    refused(shared, 8, Access::write, "shared mapping");
    refused(0x1000, 8, Access::write, "not mapped");
    refused(counter, 0, Access::write, "empty");
    EXPECT_EQ(s.transport().armed_count(), 0u);
  });
  int status = s.run();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace hwbp::ptrace
