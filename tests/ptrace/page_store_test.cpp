// The ptrace page transport completing real stores in a traced program: every store family
// into a watched buffer, replayed on a mirror (exact old and new bytes, in order).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstring>
#include <string>
#include <vector>

#include "support/page_tracer.hpp"
#include "support/report_line.hpp"
#include "support/traced_child.hpp"

namespace hwbp::ptrace {
namespace {

using test::address_field;
using test::field;
using test::PageTracer;
using test::TracedChild;

std::string program(const std::string& name) { return std::string(HWBP_PTRACE_PROGRAMS) + "/" + name; }

// "key=value key=value": the value of key.
struct Op {
  std::size_t offset;
  std::vector<std::uint8_t> bytes;
};

std::vector<std::uint8_t> le(std::uint64_t v, std::size_t n) {
  std::vector<std::uint8_t> b(n);
  std::memcpy(b.data(), &v, n);
  return b;
}

TEST(PageStore, EveryStoreFamilyExactInOrder) {
  TracedChild c({program("page_stores")});
  PageTracer t(c);
  std::uint64_t buf = 0;
  bool avx512 = false;
  std::uint64_t id = 0;
  t.on_arm_point = [&](pid_t tid) {
    auto line = c.read_line();
    ASSERT_TRUE(line);
    buf = address_field(*line, "buf");
    avx512 = field(*line, "avx512") == "1";
    id = t.transport().arm(tid, buf, 1024, Access::write);
  };
  int status = t.run();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);

  std::uint8_t src[256];
  for (int i = 0; i < 256; ++i) src[i] = static_cast<std::uint8_t>(i * 7 + 1);
  std::vector<Op> ops = {
      {0, {0x11}},
      {2, {0x22, 0x22}},
      {4, std::vector<std::uint8_t>(4, 0x33)},
      {8, std::vector<std::uint8_t>(8, 0x44)},
      {16, std::vector<std::uint8_t>(src, src + 16)},
      {32, std::vector<std::uint8_t>(src + 16, src + 48)},
      {64, le(5, 8)},
      {64, le(12, 8)},
      {64, le(99, 8)},
      {72, std::vector<std::uint8_t>(8, 0x55)},
      {80, le(1, 4)},
      {84, {1}},
      {128, std::vector<std::uint8_t>(64, 0xAB)},
      {192, std::vector<std::uint8_t>(src + 64, src + 128)},
  };
  if (avx512) ops.push_back({256, std::vector<std::uint8_t>(src + 128, src + 192)});
  ops.push_back({376, le(0x66, 8)});

  std::vector<std::uint8_t> mirror(1024, 0);
  const auto& hits = t.hits();
  ASSERT_GE(hits.size(), ops.size() + 2);
  for (std::size_t i = 0; i < hits.size(); ++i) {
    const PageHit& h = hits[i];
    ASSERT_EQ(h.watch_id, id);
    ASSERT_GE(h.addr, buf);
    ASSERT_LE(h.addr + h.new_bytes.size(), buf + 1024);
    const std::size_t off = h.addr - buf;
    // Exact and chained: the old bytes are what the mirror holds.
    ASSERT_EQ(h.old_bytes,
              std::vector<std::uint8_t>(mirror.begin() + off, mirror.begin() + off + h.old_bytes.size()))
        << "hit " << i;
    std::copy(h.new_bytes.begin(), h.new_bytes.end(), mirror.begin() + off);
    EXPECT_EQ(h.tid, c.pid());
    EXPECT_EQ(h.syscall, nullptr);
    EXPECT_EQ(h.regs.rip, h.pc);
    EXPECT_GT(h.next_ip, h.pc);
    if (i < ops.size()) {
      EXPECT_EQ(off, ops[i].offset) << "hit " << i;
      EXPECT_EQ(h.new_bytes, ops[i].bytes) << "hit " << i;
    }
  }
  for (std::size_t i = 512; i < 812; ++i) ASSERT_EQ(mirror[i], 0x77) << i;
  for (std::size_t i = 0; i < 200; ++i) ASSERT_EQ(mirror[816 + i], src[i]) << i;
  unsigned long sum = 0;
  for (auto b : mirror) sum += b;
  auto last = c.read_line();
  ASSERT_TRUE(last);
  EXPECT_EQ(field(*last, "sum"), std::to_string(sum));
  PageStats st = t.transport().stats();
  EXPECT_GE(st.displaced, 4u);  // lock add, lock xadd, lock cmpxchg, inc
  EXPECT_GE(st.emulated, 10u);
  EXPECT_EQ(st.foreign_faults, 0u);
  if (getenv("HWBP_DEBUG"))
    fprintf(stderr, "hits=%zu emulated=%lu displaced=%lu last=%lu inj=%lu unwatched=%lu\n", hits.size(),
            (unsigned long)st.emulated, (unsigned long)st.displaced, (unsigned long)st.last_resort,
            (unsigned long)st.injections, (unsigned long)st.unwatched);
}

}  // namespace
}  // namespace hwbp::ptrace
