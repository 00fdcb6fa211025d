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
#include "support/hit_delivery.hpp"

namespace {

using hwbp::bpf::HitProgram;

struct Seen {
  std::uint32_t tid, watch, flags, stack_size;
  std::uint64_t old_value, new_value, rip, rsp;
  std::uint64_t top_word;  // the last 8 bytes of the stack copy
};

// This process's initial stack pointer (/proc/self/stat field 28, startstack): the top of the
// main thread's stack as the BPF program bounds its copy.
std::uint64_t start_stack() {
  std::FILE* f = std::fopen("/proc/self/stat", "r");
  char buf[4096] = {};
  std::size_t n = f ? std::fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f) std::fclose(f);
  const char* p = std::strrchr(buf, ')');  // comm may contain spaces
  if (!p || n == 0) return 0;
  std::uint64_t value = 0;
  for (int field = 2; field < 28 && *p; ++field) {  // p is at the end of field 2
    p = std::strchr(p + 1, ' ');
    if (!p) return 0;
    value = std::strtoull(p + 1, nullptr, 10);
  }
  return value;
}

volatile std::uint64_t g_target;

class HitProgramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      program_ = std::make_unique<HitProgram>(std::size_t{1} << 20);
    } catch (const hwbp::Error& e) {
      GTEST_SKIP() << e.what();  // no privilege, no BTF, no BPF: says which
    }
  }
  // A breakpoint on len bytes of g_target for this thread and the threads it creates later,
  // reporting watch `watch`.
  hwbp::perf::Event arm(hwbp_bpf_filter filter, std::uint32_t stack_bytes, std::uint8_t len = 8,
                        std::uint32_t watch = 7, hwbp::core::HwType type = hwbp::core::HwType::write) {
    hwbp::perf::BreakpointAttr a;
    a.addr = reinterpret_cast<std::uintptr_t>(&g_target);
    a.len = len;
    a.type = type;
    a.inherit = a.inherit_thread = true;
    a.remove_on_exec = true;
    auto ev = hwbp::perf::Event::open(a, 0);
    program_->attach(ev.fd());
    program_->set_watch(watch, a.addr, len, filter, stack_bytes);
    g_target = 0;
    program_->set_shadow(watch, std::vector<std::uint8_t>(len, 0));
    program_->add_chunk(a.addr, len, static_cast<std::uint32_t>(type), watch);
    EXPECT_EQ(ev.enable(), 0);
    return ev;
  }
  // Writes 4 bytes at offset off of g_target.
  static void write_half(std::size_t off, std::uint32_t v) {
    *reinterpret_cast<volatile std::uint32_t*>(reinterpret_cast<std::uintptr_t>(&g_target) + off) = v;
  }
  static std::vector<std::uint32_t> watches(const std::vector<Seen>& hits) {
    std::vector<std::uint32_t> out;
    for (const auto& h : hits) out.push_back(h.watch);
    return out;
  }
  std::vector<Seen> drain() {
    std::vector<Seen> out;
    program_->drain([&](const hwbp_bpf_hit& h, std::span<const std::uint8_t> stack) {
      Seen s{h.tid, h.watch, h.flags, static_cast<std::uint32_t>(stack.size()), 0, 0, h.regs[HWBP_BPF_REG_RIP], h.regs[HWBP_BPF_REG_RSP], 0};
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
  HWBP_REQUIRE_HITS();
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
  HWBP_REQUIRE_HITS();
  auto ev = arm(HWBP_BPF_EVERY, 4096);
  int marker = 0;
  g_target = 1;
  g_target = 1;
  ev.disable();
  auto hits = drain();
  ASSERT_EQ(hits.size(), 2u);
  auto here = reinterpret_cast<std::uint64_t>(&marker);
  auto top = start_stack();
  ASSERT_NE(top, 0u) << "no startstack in /proc/self/stat";
  for (const auto& h : hits) {
    // The copied stack starts at the trapping rsp, which lies below this frame's locals.
    EXPECT_LT(h.rsp, here + 4096);
    EXPECT_GT(h.rsp + 65536, here);
    EXPECT_NE(h.rip, 0u);
    // 4096 bytes, or up to the initial stack pointer when that is nearer. Pages never touched
    // (gtest has large frames) are copied as the zeros they hold: they do not end the copy.
    EXPECT_EQ(h.stack_size, std::min<std::uint64_t>(4096, top - h.rsp));
    // The top of the copy is callers' frames (or argc), which have not
    // changed since: the copy holds the real bytes.
    std::uint64_t real;
    std::memcpy(&real, reinterpret_cast<const void*>(h.rsp + h.stack_size - 8), 8);
    EXPECT_EQ(h.top_word, real);
  }
  EXPECT_EQ(hits[1].old_value, 1u);
  EXPECT_EQ(hits[1].new_value, 1u);
}

// Asked for the most, the copy reaches the main thread's initial stack pointer (argc's slot,
// above every frame) when that is within reach, with the real bytes there.
TEST_F(HitProgramTest, StackCopyReachesTheTopOfTheMainThreadStack) {
  HWBP_REQUIRE_HITS();
  auto ev = arm(HWBP_BPF_EVERY, HWBP_BPF_MAX_STACK);
  g_target = 3;
  ev.disable();
  auto hits = drain();
  ASSERT_EQ(hits.size(), 1u);
  auto top = start_stack();
  ASSERT_NE(top, 0u) << "no startstack in /proc/self/stat";
  if (top - hits[0].rsp > HWBP_BPF_MAX_STACK)
    GTEST_SKIP() << "this frame lies more than " << HWBP_BPF_MAX_STACK
                 << " bytes below the initial stack pointer; the copy cannot reach it";
  EXPECT_EQ(hits[0].stack_size, top - hits[0].rsp);
  std::uint64_t real;
  std::memcpy(&real, reinterpret_cast<const void*>(top - 8), 8);
  EXPECT_EQ(hits[0].top_word, real);
}

TEST_F(HitProgramTest, ThreadsCreatedAfterArmingCarryTheProgram) {
  HWBP_REQUIRE_HITS();
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

// Watches starting at one address with different lengths or types are different events with
// the same breakpoint address: each hit is reported for the watches of the event that hit, in
// the arming thread and in a thread created later (the kernel's copies of the events).
TEST_F(HitProgramTest, EventsAtOneAddressReportOnlyTheirOwnWatch) {
  HWBP_REQUIRE_HITS();
  using hwbp::core::HwType;
  auto whole = arm(HWBP_BPF_EVERY, 0, 8, 7);
  auto low = arm(HWBP_BPF_EVERY, 0, 4, 8);
  auto any = arm(HWBP_BPF_EVERY, 0, 8, 9, HwType::read_write);
  drain();  // arm() zeroes g_target: hits of the first watches
  auto run = [&](auto&& body) {
    for (auto* ev : {&whole, &low, &any}) EXPECT_EQ(ev->enable(), 0);
    body();
    for (auto* ev : {&whole, &low, &any}) ev->disable();
    auto seen = watches(drain());
    std::sort(seen.begin(), seen.end());
    return seen;
  };
  auto writes_and_read = [] {
    write_half(4, 1);  // only the 8-byte watches cover these bytes
    write_half(0, 2);  // all do
    volatile std::uint64_t sink = g_target;  // read: the rw watch only
    (void)sink;
  };
  const std::vector<std::uint32_t> want{7, 7, 8, 9, 9, 9};
  EXPECT_EQ(run(writes_and_read), want);
  EXPECT_EQ(run([&] { std::thread(writes_and_read).join(); }), want);
  EXPECT_EQ(program_->stats().unmapped, 0u);
}

// A store over both chunks of one watch hits two slots and runs the program twice in one #DB:
// it is one hit. The same store executed again with identical registers (an asm loop whose
// counter is in memory) is a new hit each time.
TEST_F(HitProgramTest, StoreOverTwoChunksOfOneWatchIsOneHit) {
  HWBP_REQUIRE_HITS();
  using hwbp::core::HwType;
  auto addr = reinterpret_cast<std::uintptr_t>(&g_target);
  hwbp::perf::BreakpointAttr a;
  a.len = 4;
  a.type = HwType::write;
  a.inherit = a.inherit_thread = true;
  std::vector<hwbp::perf::Event> events;
  for (std::uint32_t part : {0u, 1u}) {
    a.addr = addr + 4 * part;
    events.push_back(hwbp::perf::Event::open(a, 0));
    program_->attach(events.back().fd());
    program_->add_chunk(a.addr, 4, static_cast<std::uint32_t>(HwType::write), 7, part);
  }
  program_->set_watch(7, addr, 8, HWBP_BPF_EVERY, 0);
  program_->set_shadow(7, std::vector<std::uint8_t>(8, 0));
  g_target = 0;
  for (auto& ev : events) ASSERT_EQ(ev.enable(), 0);
  g_target = 0x100000001;  // both chunks: one hit
  write_half(4, 2);        // the second chunk only: one hit
  volatile std::uint32_t left = 3;
  std::uint64_t value = 0x300000003;
  asm volatile("1: movq %0, (%1)\n\tdecl (%2)\n\tjnz 1b"
               : : "r"(value), "r"(addr), "r"(&left) : "memory", "cc");
  for (auto& ev : events) ev.disable();
  auto hits = drain();
  ASSERT_EQ(hits.size(), 5u);
  EXPECT_EQ(hits[0].new_value, 0x100000001u);
  EXPECT_EQ(hits[1].new_value, 0x200000001u);
  for (std::size_t i = 2; i < 5; ++i) {
    EXPECT_EQ(hits[i].new_value, 0x300000003u);
    EXPECT_EQ(hits[i].rip, hits[2].rip);  // the same instruction, registers alike
  }
}

TEST_F(HitProgramTest, UnchangedFilterAndUnmappedAddresses) {
  HWBP_REQUIRE_HITS();
  auto ev = arm(HWBP_BPF_UNCHANGED, 0);
  g_target = 0;  // same as the shadow: reported
  g_target = 3;  // changed: filtered
  program_->remove_chunk(reinterpret_cast<std::uintptr_t>(&g_target), 8,
                         static_cast<std::uint32_t>(hwbp::core::HwType::write), 7);
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
  HWBP_REQUIRE_HITS();
  auto ev = arm(HWBP_BPF_CHANGED, 0);
  program_->set_shadow(7, std::nullopt);
  g_target = 0;  // equal to memory before, but the old value is unknown: reported
  ev.disable();
  auto hits = drain();
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].flags, HWBP_BPF_NEW_KNOWN);
}

TEST_F(HitProgramTest, UnknownShadowPassesTheReadFilterToo) {
  // core::passes_value_filter: a hit whose old bytes are unknown passes every filter, so an
  // r watch reports it (with the old value marked unknown) rather than guessing it was a write.
  HWBP_REQUIRE_HITS();
  auto ev = arm(HWBP_BPF_UNCHANGED, 0);
  program_->set_shadow(7, std::nullopt);
  g_target = g_target + 1;  // a change, but against an unknown old value: reported
  g_target = g_target + 1;  // a change against the known bytes of the last hit: filtered
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
