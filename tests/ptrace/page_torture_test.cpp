// Issue 15's torture case through the ptrace transport: 8 threads x 100,000 stores into one
// page with one watched field and unwatched neighbours. Every store to the watched field is
// reported exactly once, in an order whose values chain, the neighbours end right and the exit
// status is the program's.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstring>
#include <set>
#include <string>

#include "support/page_tracer.hpp"
#include "support/traced_child.hpp"

namespace hwbp::ptrace {
namespace {

using test::PageTracer;
using test::TracedChild;

TEST(PageTorture, EightThreadsHundredThousandStoresEachExact) {
  TracedChild c({std::string(HWBP_PTRACE_PROGRAMS) + "/page_torture"});
  PageTracer t(c);
  t.keep_hits = false;
  std::uint64_t watched = 0, id = 0;
  t.on_arm_point = [&](pid_t tid) {
    auto line = c.read_line();
    ASSERT_TRUE(line);
    watched = std::stoull(line->substr(line->find('=') + 1), nullptr, 16);
    id = t.transport().arm(tid, watched, 8, Access::write);
  };
  // Chaining: each hit's old value is the previous hit's new value, and each adds exactly 1.
  std::int64_t last = 0;
  std::uint64_t broken = 0, wrong_address = 0;
  std::set<pid_t> writers;
  t.on_hit = [&](const PageHit& h) {
    std::int64_t o = 0, n = 0;
    if (h.addr != watched || h.old_bytes.size() != 8) {
      ++wrong_address;
      return;
    }
    std::memcpy(&o, h.old_bytes.data(), 8);
    std::memcpy(&n, h.new_bytes.data(), 8);
    if (o != last || n != o + 1) ++broken;
    last = n;
    writers.insert(h.tid);
  };
  int status = t.run();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 7);
  EXPECT_EQ(t.hit_count(), 400000u);
  EXPECT_EQ(t.transport().hits(id), 400000u);
  EXPECT_EQ(broken, 0u);
  EXPECT_EQ(wrong_address, 0u);
  EXPECT_EQ(last, 400000);
  EXPECT_EQ(writers.size(), 8u);
  EXPECT_EQ(c.read_line(),
            "watched=400000 n0=50000 n1=50000 n2=50000 n3=50000 n4=50000 n5=50000 n6=50000 n7=50000");
  PageStats st = t.transport().stats();
  EXPECT_EQ(st.unwatched, 400000u);  // the neighbours' stores: completed, not reported
  EXPECT_EQ(st.displaced, 400000u);
  EXPECT_EQ(st.last_resort, 0u);
  EXPECT_EQ(st.foreign_faults, 0u);
}

TEST(PageTorture, DisarmWhileThreadsFaultLeavesThemUnharmed) {
  // Stores of other threads already faulting (their SIGSEGV stops queued) when the last watch
  // goes away must simply run again, not reach the program.
  TracedChild c({std::string(HWBP_PTRACE_PROGRAMS) + "/page_torture"});
  PageTracer t(c);
  t.keep_hits = false;
  std::uint64_t id = 0;
  t.on_arm_point = [&](pid_t tid) {
    auto line = c.read_line();
    ASSERT_TRUE(line);
    id =
        t.transport().arm(tid, std::stoull(line->substr(line->find('=') + 1), nullptr, 16), 8, Access::write);
  };
  t.after_handled_signal = [&](pid_t tid) {
    if (t.hit_count() >= 2000 && t.transport().alive(id)) t.transport().disarm(tid, id);
  };
  int status = t.run();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 7);
  EXPECT_EQ(c.read_line(),
            "watched=400000 n0=50000 n1=50000 n2=50000 n3=50000 n4=50000 n5=50000 n6=50000 n7=50000");
  EXPECT_EQ(t.hit_count(), 2000u);
  EXPECT_EQ(t.transport().armed_count(), 0u);
  EXPECT_EQ(t.transport().stats().foreign_faults, 0u);
}

}  // namespace
}  // namespace hwbp::ptrace
