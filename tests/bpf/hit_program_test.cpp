// hwbp's BPF delivery program on real breakpoint events in this process: the value filters, the
// exact old/new bytes, the registers and stack copy, inheritance into threads created later,
// and the statistics. Skips (with the reason) where the program cannot be loaded, e.g. non-root.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "bpf/hit_program.hpp"
#include "hwbp/error.hpp"
#include "perf/event.hpp"

namespace {

using hwbp::bpf::HitProgram;

struct Seen {
  std::uint32_t tid, watch, flags, stack_size;
  std::uint64_t old_value, new_value, rip, rsp;
  std::uint64_t top_word;  // the last 8 bytes of the stack copy
};

// The end of this process's main-thread stack mapping, from /proc/self/maps.
std::uint64_t main_stack_end() {
  std::FILE* f = std::fopen("/proc/self/maps", "r");
  char line[512];
  std::uint64_t lo = 0, hi = 0;
  while (f && std::fgets(line, sizeof line, f))
    if (std::strstr(line, "[stack]") && std::sscanf(line, "%lx-%lx", &lo, &hi) == 2) break;
  if (f) std::fclose(f);
  return hi;
}

volatile std::uint64_t g_target;

class HitProgramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = HitProgram::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    program_ = std::make_unique<HitProgram>(std::size_t{1} << 20);
  }
  // A write breakpoint on g_target for this thread and the threads it creates later.
  hwbp::perf::Event arm(hwbp_bpf_filter filter, std::uint32_t stack_bytes) {
    hwbp::perf::BreakpointAttr a;
    a.addr = reinterpret_cast<std::uintptr_t>(&g_target);
    a.len = 8;
    a.type = hwbp::core::HwType::write;
    a.inherit = a.inherit_thread = true;
    a.remove_on_exec = true;
    auto ev = hwbp::perf::Event::open(a, 0);
    program_->attach(ev.fd());
    program_->set_watch(7, a.addr, 8, filter, stack_bytes);
    g_target = 0;
    program_->set_shadow(7, std::vector<std::uint8_t>(8, 0));
    program_->add_chunk(a.addr, 7);
    EXPECT_EQ(ev.enable(), 0);
    return ev;
  }
  std::vector<Seen> drain() {
    std::vector<Seen> out;
    program_->drain([&](const hwbp_bpf_hit& h, std::span<const std::uint8_t> stack) {
      Seen s{h.tid, h.watch, h.flags, static_cast<std::uint32_t>(stack.size()), 0, 0, h.regs[16], h.regs[7], 0};
      std::memcpy(&s.old_value, h.old_bytes, 8);
      std::memcpy(&s.new_value, h.new_bytes, 8);
      if (stack.size() >= 8) std::memcpy(&s.top_word, stack.data() + stack.size() - 8, 8);
      out.push_back(s);
    });
    return out;
  }
  std::unique_ptr<HitProgram> program_;
};

TEST_F(HitProgramTest, ModifyFilterReportsOnlyChangesWithExactValues) {
  auto ev = arm(HWBP_BPF_CHANGED, 0);
  for (std::uint64_t v : {5ull, 5ull, 9ull, 9ull, 9ull, 0xdeadbeefcafeull}) g_target = v;
  ev.disable();
  auto hits = drain();
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].old_value, 0u);
  EXPECT_EQ(hits[0].new_value, 5u);
  EXPECT_EQ(hits[1].old_value, 5u);
  EXPECT_EQ(hits[1].new_value, 9u);
  EXPECT_EQ(hits[2].new_value, 0xdeadbeefcafeu);
  for (const auto& h : hits) {
    EXPECT_EQ(h.watch, 7u);
    EXPECT_EQ(h.flags, HWBP_BPF_OLD_KNOWN | HWBP_BPF_NEW_KNOWN);
    EXPECT_EQ(h.tid, static_cast<std::uint32_t>(gettid()));
    EXPECT_EQ(h.stack_size, 0u);
  }
  auto st = program_->stats();
  EXPECT_EQ(st.seen, 6u);
  EXPECT_EQ(st.filtered, 3u);
  EXPECT_EQ(st.lost, 0u);
}

TEST_F(HitProgramTest, EveryFilterReportsEachWriteWithRegistersAndStack) {
  auto ev = arm(HWBP_BPF_EVERY, 4096);
  int marker = 0;
  g_target = 1;
  g_target = 1;
  ev.disable();
  auto hits = drain();
  ASSERT_EQ(hits.size(), 2u);
  auto here = reinterpret_cast<std::uint64_t>(&marker);
  auto stack_end = main_stack_end();
  ASSERT_NE(stack_end, 0u) << "no [stack] line in /proc/self/maps";
  for (const auto& h : hits) {
    // The copied stack starts at the trapping rsp, which lies below this frame's locals.
    EXPECT_LT(h.rsp, here + 4096);
    EXPECT_GT(h.rsp + 65536, here);
    EXPECT_NE(h.rip, 0u);
    // 4096 bytes, or every byte up to the end of the stack mapping when that is nearer (a small
    // environment puts it within 4 KB of a shallow frame: the CI case).
    EXPECT_EQ(h.stack_size, std::min<std::uint64_t>(4096, stack_end - h.rsp));
    // The top of the copy is callers' frames or the environment strings, which have not
    // changed since: the copy holds the real bytes.
    std::uint64_t real;
    std::memcpy(&real, reinterpret_cast<const void*>(h.rsp + h.stack_size - 8), 8);
    EXPECT_EQ(h.top_word, real);
  }
  EXPECT_EQ(hits[1].old_value, 1u);
  EXPECT_EQ(hits[1].new_value, 1u);
}

// The main thread's stack ends a few KB above a shallow frame; a copy that asks for more gets
// exactly the bytes up to the end of the mapping (it used to get a power-of-two fraction).
TEST_F(HitProgramTest, StackCopyReachesTheEndOfTheMainThreadStack) {
  auto ev = arm(HWBP_BPF_EVERY, HWBP_BPF_MAX_STACK);
  g_target = 3;
  ev.disable();
  auto hits = drain();
  ASSERT_EQ(hits.size(), 1u);
  auto stack_end = main_stack_end();
  ASSERT_NE(stack_end, 0u) << "no [stack] line in /proc/self/maps";
  if (stack_end - hits[0].rsp > HWBP_BPF_MAX_STACK)
    GTEST_SKIP() << "the environment is too large here to reach the stack end within "
                 << HWBP_BPF_MAX_STACK << " bytes; run under env -i to exercise this";
  EXPECT_EQ(hits[0].stack_size, stack_end - hits[0].rsp);
  std::uint64_t real;
  std::memcpy(&real, reinterpret_cast<const void*>(stack_end - 8), 8);
  EXPECT_EQ(hits[0].top_word, real);
}

TEST_F(HitProgramTest, ThreadsCreatedAfterArmingCarryTheProgram) {
  auto ev = arm(HWBP_BPF_EVERY, 0);
  pid_t child_tid = 0;
  std::thread t([&] {
    child_tid = gettid();
    for (int i = 1; i <= 100; ++i) g_target = static_cast<std::uint64_t>(i);
  });
  t.join();
  ev.disable();
  auto hits = drain();
  ASSERT_EQ(hits.size(), 100u);
  for (std::size_t i = 0; i < hits.size(); ++i) {
    EXPECT_EQ(hits[i].tid, static_cast<std::uint32_t>(child_tid));
    EXPECT_EQ(hits[i].new_value, i + 1);
  }
}

TEST_F(HitProgramTest, UnchangedFilterAndUnmappedAddresses) {
  auto ev = arm(HWBP_BPF_UNCHANGED, 0);
  g_target = 0;  // same as the shadow: reported
  g_target = 3;  // changed: filtered
  program_->remove_chunk(reinterpret_cast<std::uintptr_t>(&g_target), 7);
  g_target = 3;  // no watch at this address any more: counted as unmapped
  ev.disable();
  auto hits = drain();
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].new_value, 0u);
  auto st = program_->stats();
  EXPECT_EQ(st.unmapped, 1u);
  EXPECT_EQ(st.filtered, 1u);
}

TEST_F(HitProgramTest, UnknownShadowCountsAsChangedAndSaysSo) {
  auto ev = arm(HWBP_BPF_CHANGED, 0);
  program_->set_shadow(7, std::nullopt);
  g_target = 0;  // equal to memory before, but the old value is unknown: reported
  ev.disable();
  auto hits = drain();
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].flags, HWBP_BPF_NEW_KNOWN);
}

TEST_F(HitProgramTest, OversizedWatchIsRefusedWithAReason) {
  try {
    program_->set_watch(1, 0x1000, HWBP_BPF_MAX_VALUE + 1, HWBP_BPF_EVERY, 0);
    FAIL() << "accepted a watch larger than the record's value field";
  } catch (const hwbp::Error& e) {
    EXPECT_EQ(e.code(), hwbp::Errc::invalid_request);
    EXPECT_NE(std::string(e.what()).find("--mode ptrace"), std::string::npos);
  }
}

}  // namespace
