// Every access kind x every length x aligned / unaligned / straddling ranges, with exact hit
// counts against known access counts, on real debug registers and on the software engine (page
// protection for stores, uprobes for exec), which must give the same counts and values.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string_view>
#include <string>

#include "hwbp/hwbp.hpp"
#include "test_support.hpp"
#include "support/hit_delivery.hpp"

namespace hwbp::test {
namespace {

alignas(64) unsigned char g_buffer[64];

struct AccessCase {
  Engine engine;
  Access access;
  std::size_t offset;  // from a 16-aligned base inside g_buffer
  std::size_t len;
};

std::string case_name(const testing::TestParamInfo<AccessCase>& info) {
  return std::string(engine_label(info.param.engine)) + "_" + to_string(info.param.access) + "_off" +
         std::to_string(info.param.offset) + "_len" + std::to_string(info.param.len);
}

class LibraryAccess : public testing::TestWithParam<AccessCase> {};

// Expected hits for one access pattern under each access kind (x86 semantics).
struct Expect {
  int changing_writes, same_value_writes, reads;
};

int expected_hits(Access a, const Expect& e) {
  switch (a) {
    case Access::write: return e.changing_writes + e.same_value_writes;
    case Access::modify: return e.changing_writes;
    case Access::read_write: return e.changing_writes + e.same_value_writes + e.reads;
    // x86 read emulation: accesses that left the bytes unchanged, so same-value writes count
    // as reads (the documented blind spot).
    case Access::read: return e.reads + e.same_value_writes;
    default: return 0;
  }
}

TEST_P(LibraryAccess, ExactHitCountsInsideAndNoneOutside) {
  const AccessCase& c = GetParam();
  HWBP_REQUIRE_ENGINE(c.engine, c.access);
  unsigned char* base = g_buffer + 16;
  std::memset(g_buffer, 0, sizeof g_buffer);
  HitLog log;
  WatchOptions o{reinterpret_cast<std::uintptr_t>(base + c.offset), c.len, c.access, Target::this_thread(),
                 log.callback()};
  o.engine = c.engine;
  Watch w = watch(o);
  if (c.engine == Engine::hardware) {
    ASSERT_LE(w.chunks().size(), slots_per_thread());
  } else {
    EXPECT_TRUE(w.chunks().empty()) << "page protection holds no debug-register slots";
  }
  EXPECT_EQ(w.mechanism(), c.engine == Engine::hardware ? Mechanism::debug_registers : Mechanism::page_protection);

  // Bytes just outside the range: writes and reads there must never hit.
  store<unsigned char>(base + c.offset - 1, 0x55);
  store<unsigned char>(base + c.offset + c.len, 0x55);
  (void)load<unsigned char>(base + c.offset - 1);
  (void)load<unsigned char>(base + c.offset + c.len);
  EXPECT_EQ(w.hits(), 0u) << "an access outside the watched bytes was reported";

  Expect e{0, 0, 0};
  for (std::size_t i = 0; i < c.len; ++i) {  // one changing write per byte
    store<unsigned char>(base + c.offset + i, static_cast<unsigned char>(i + 1));
    ++e.changing_writes;
  }
  for (std::size_t i = 0; i < c.len; ++i) {  // one read per byte
    (void)load<unsigned char>(base + c.offset + i);
    ++e.reads;
  }
  store<unsigned char>(base + c.offset, 1);  // same value as before
  ++e.same_value_writes;

  EXPECT_EQ(w.hits(), static_cast<std::uint64_t>(expected_hits(c.access, e)))
      << "access " << to_string(c.access) << " offset " << c.offset << " len " << c.len;
  if (c.access == Access::modify) {
    ASSERT_EQ(log.size(), static_cast<int>(c.len));
    for (int i = 0; i < log.size(); ++i) {
      const auto& h = log.entries[i];
      EXPECT_TRUE(h.has_values);
      EXPECT_EQ(h.tid, gettid_raw());
      EXPECT_NE(h.old_value, h.new_value);
      EXPECT_EQ(h.mechanism, w.mechanism());
    }
  }
}

std::vector<AccessCase> all_cases() {
  std::vector<AccessCase> out;
  for (Engine e : {Engine::hardware, Engine::page}) {
    for (Access a : {Access::write, Access::modify, Access::read_write, Access::read}) {
      // Page protection catches stores only: its r/rw refusal is tested below.
      if (e == Engine::page && (a == Access::read || a == Access::read_write)) continue;
      for (std::size_t len : {1u, 2u, 4u, 8u}) out.push_back({e, a, 0, len});  // aligned
      out.push_back({e, a, 1, 4});   // unaligned: 1 + 2 + 1
      out.push_back({e, a, 3, 8});   // unaligned: 1 + 4 + 2 + 1
      out.push_back({e, a, 6, 4});   // straddles an 8-byte boundary: 2 + 2
      out.push_back({e, a, 4, 12});  // longer range: 4 + 8
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllKinds, LibraryAccess, testing::ValuesIn(all_cases()), case_name);

__attribute__((noinline)) int exec_target(int x) {
  asm volatile("" ::: "memory");
  return x + 1;
}

TEST(LibraryAccessPage, ReadWatchesAreRefusedWithTheReason) {
  for (Access a : {Access::read, Access::read_write}) {
    try {
      Watch w = watch({reinterpret_cast<std::uintptr_t>(g_buffer), 8, a, Target::this_thread(), {}, true,
                       false, Engine::page});
      FAIL() << "page protection accepted a " << to_string(a) << " watch";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::unsupported);
      EXPECT_NE(std::string(e.what()).find("stores only"), std::string::npos) << e.what();
    }
  }
}

class LibraryAccessExec : public EngineTest {};
INSTANTIATE_TEST_SUITE_P(Engines, LibraryAccessExec, HWBP_ENGINES);

TEST_P(LibraryAccessExec, CountsEveryCall) {
  HWBP_REQUIRE_ENGINE(engine(), Access::exec);
  HitLog log;
  auto fn = reinterpret_cast<std::uintptr_t>(&exec_target);
  Watch w = watch(on_engine({fn, 1, Access::exec, Target::this_thread(), log.callback()}));
  EXPECT_EQ(w.mechanism(), expected_mechanism(Access::exec));
  int (*volatile call)(int) = exec_target;
  for (int i = 0; i < 7; ++i) call(i);
  EXPECT_EQ(w.hits(), 7u);
  ASSERT_EQ(log.size(), 7);
  EXPECT_EQ(log.entries[0].pc, fn);
  if (engine() == Engine::hardware) {
    EXPECT_EQ(log.entries[0].ip, fn) << "an exec hit is a fault: the IP is the breakpoint address";
  } else {
    EXPECT_NE(log.entries[0].ip, fn) << "a uprobe signals after the probed instruction ran";
  }
  EXPECT_EQ(log.entries[0].mechanism, expected_mechanism(Access::exec));
  EXPECT_FALSE(log.entries[0].has_values);
}

TEST_P(LibraryAccessExec, CountingModeUsesKernelCounts) {
  HWBP_REQUIRE_ENGINE(engine(), Access::exec);
  auto fn = reinterpret_cast<std::uintptr_t>(&exec_target);
  Watch w = watch(on_engine({fn, 1, Access::exec, Target::this_thread(), {}}));
  int (*volatile call)(int) = exec_target;
  for (int i = 0; i < 5; ++i) call(i);
  EXPECT_EQ(w.hits(), 5u);
  w.disable();
  for (int i = 0; i < 3; ++i) call(i);
  w.enable();
  call(0);
  EXPECT_EQ(w.hits(), 6u) << "calls while disabled are not counted";
}

class LibraryValues : public EngineTest {};
INSTANTIATE_TEST_SUITE_P(Engines, LibraryValues, HWBP_ENGINES);

TEST_P(LibraryValues, OldAndNewAreExactForEveryWrite) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  alignas(8) static volatile std::uint64_t var = 7;
  var = 7;
  HitLog log;
  Watch w = watch_var(var, Access::write, log.callback(), Target::this_thread());
  const std::uint64_t values[] = {7, 0x1122334455667788ull, 0, 0, ~0ull, 42};
  for (std::uint64_t v : values) var = v;
  ASSERT_EQ(log.size(), 6);
  std::uint64_t previous = 7;
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(log.entries[i].old_value, previous) << "hit " << i;
    EXPECT_EQ(log.entries[i].new_value, values[i]) << "hit " << i;
    EXPECT_TRUE(log.entries[i].old_known);
    EXPECT_EQ(log.entries[i].addr, reinterpret_cast<std::uintptr_t>(&var));
    previous = values[i];
  }
}

TEST_P(LibraryValues, ModifySkipsSameValueWritesAndCountsOnlyChanges) {
  HWBP_REQUIRE_ENGINE(engine(), Access::modify);
  alignas(8) static volatile std::uint32_t var = 1;
  var = 1;
  Watch w = watch_var(var, Access::modify, [](const Hit&) {}, Target::this_thread());
  for (int i = 0; i < 10; ++i) var = 1;  // no change
  for (int i = 0; i < 10; ++i) var = static_cast<std::uint32_t>(i + 2);
  EXPECT_EQ(w.hits(), 10u);
}

TEST_P(LibraryValues, CountingModeCountsEveryWrite) {
  HWBP_REQUIRE_ENGINE(engine(), Access::write);
  alignas(8) static volatile std::uint64_t var = 0;
  Watch w = watch_var(var, Access::write, {}, Target::this_thread());  // no callback: counting
  for (int i = 0; i < 25; ++i) var = static_cast<std::uint64_t>(i % 3);
  EXPECT_EQ(w.hits(), 25u);
  EXPECT_DOUBLE_EQ(w.coverage(), 1.0);
}

TEST_P(LibraryValues, DisabledWatchReportsNothingAndResumesWithFreshShadow) {
  HWBP_REQUIRE_ENGINE(engine(), Access::modify);
  alignas(8) static volatile std::uint64_t var = 1;
  var = 1;
  HitLog log;
  Watch w = watch_var(var, Access::modify, log.callback(), Target::this_thread());
  w.disable();
  EXPECT_FALSE(w.enabled());
  var = 2;
  var = 3;
  EXPECT_EQ(w.hits(), 0u);
  w.enable();
  var = 4;
  ASSERT_EQ(log.size(), 1);
  EXPECT_EQ(log.entries[0].old_value, 3u) << "the shadow is refreshed on enable";
  EXPECT_EQ(log.entries[0].new_value, 4u);
}

// What only page protection offers: the exact bytes of a store of any length, in one hit, with
// the storing instruction; a kernel write reported with its system call; an end event.
alignas(4096) unsigned char g_page_buffer[3 * 4096];

struct BytesLog {
  std::atomic<int> hits{0};
  std::size_t len = 0;
  std::uintptr_t addr = 0, pc = 0, ip = 0;
  unsigned char old_bytes[256] = {}, new_bytes[256] = {};
  const char* syscall = nullptr;
  bool bytes_present = false;
};

TEST(LibraryPageHits, OneHitWithTheExactBytesOfAStoreOfAnyLength) {
  std::memset(g_page_buffer, 0x11, sizeof g_page_buffer);
  BytesLog log;
  Watch w = watch({reinterpret_cast<std::uintptr_t>(g_page_buffer + 100), 200, Access::write,
                   Target::process(),
                   [&log](const Hit& h) {
                     log.hits.fetch_add(1);
                     log.len = h.len;
                     log.addr = h.addr;
                     log.pc = h.pc;
                     log.ip = h.ip;
                     log.syscall = h.syscall;
                     log.bytes_present = h.old_bytes != nullptr && h.new_bytes != nullptr;
                     if (log.bytes_present && h.len <= sizeof log.old_bytes) {
                       std::memcpy(log.old_bytes, h.old_bytes, h.len);
                       std::memcpy(log.new_bytes, h.new_bytes, h.len);
                     }
                   },
                   true, false, Engine::page});
  EXPECT_EQ(w.mechanism(), Mechanism::page_protection);
  EXPECT_EQ(w.describe(), "page protection (requested)");
  // 84 bytes at once (memset: wide stores, the last ones may overlap), 20 of them before the
  // watched range: a few hits, each with the exact bytes; together they cover bytes 100..163.
  std::atomic<std::uintptr_t> lo{~std::uintptr_t{0}}, hi{0};
  std::atomic<int> wrong_new{0};
  {
    Watch span = watch({reinterpret_cast<std::uintptr_t>(g_page_buffer + 100), 200, Access::write,
                        Target::process(),
                        [&](const Hit& h) {
                          if (h.addr < lo) lo = h.addr;
                          if (h.addr + h.len > hi) hi = h.addr + h.len;
                          for (std::size_t i = 0; i < h.len; ++i)
                            if (h.new_bytes == nullptr || h.new_bytes[i] != 0x22) wrong_new.fetch_add(1);
                        },
                        true, false, Engine::page});
    std::memset(g_page_buffer + 80, 0x22, 84);
    EXPECT_GE(span.hits(), 1u);
  }
  EXPECT_EQ(lo.load(), reinterpret_cast<std::uintptr_t>(g_page_buffer + 100));
  EXPECT_EQ(hi.load(), reinterpret_cast<std::uintptr_t>(g_page_buffer + 164));
  EXPECT_EQ(wrong_new.load(), 0);
  // The first watch saw the same stores, with old bytes 0x11 (or 0x22 where stores overlapped).
  ASSERT_GE(log.hits.load(), 1);
  EXPECT_TRUE(log.bytes_present);
  for (std::size_t i = 0; i < log.len && i < sizeof log.old_bytes; ++i) {
    EXPECT_TRUE(log.old_bytes[i] == 0x11 || log.old_bytes[i] == 0x22) << i;
    EXPECT_EQ(log.new_bytes[i], 0x22) << i;
  }
  EXPECT_EQ(log.syscall, nullptr);
  // One plain 8-byte store: one hit; pc is the storing instruction, ip the one after it.
  const int before = log.hits.load();
  store<std::uint64_t>(g_page_buffer + 200, 0x0102030405060708ull);
  EXPECT_EQ(log.hits.load(), before + 1);
  EXPECT_EQ(log.len, 8u);
  EXPECT_NE(log.pc, 0u);
  EXPECT_GT(log.ip, log.pc);
  EXPECT_LE(log.ip - log.pc, 15u) << "ip is the instruction after the store";
  EXPECT_EQ(log.new_bytes[0], 0x08);
  EXPECT_EQ(log.old_bytes[0], 0x11);
  EXPECT_EQ(log.old_bytes[7], 0x11);
}

TEST(LibraryPageHits, KernelWriteIsReportedWithItsSystemCall) {
  std::memset(g_page_buffer, 0, sizeof g_page_buffer);
  BytesLog log;
  Watch w = watch({reinterpret_cast<std::uintptr_t>(g_page_buffer + 4096), 16, Access::modify,
                   Target::process(),
                   [&log](const Hit& h) {
                     log.hits.fetch_add(1);
                     log.syscall = h.syscall;
                     log.len = h.len;
                   },
                   true, false, Engine::page});
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "hello, watcher!!", 16), 16);
  ASSERT_EQ(read(fds[0], g_page_buffer + 4096, 16), 16) << "read(2) into a watched buffer must not fail";
  close(fds[0]);
  close(fds[1]);
  EXPECT_EQ(std::memcmp(g_page_buffer + 4096, "hello, watcher!!", 16), 0);
  ASSERT_EQ(log.hits.load(), 1);
  ASSERT_NE(log.syscall, nullptr);
  EXPECT_STREQ(log.syscall, "read");
  EXPECT_EQ(log.len, 16u);
}

TEST(LibraryPageHits, WatchWhoseMemoryGoesAwayEndsAndCanBeRetargeted) {
  void* m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  static std::atomic<int> ended{0};
  static std::atomic<std::uint64_t> ended_id{0};
  ended = 0;
  WatchOptions o{reinterpret_cast<std::uintptr_t>(m), 8, Access::write, Target::process(), {}};
  o.engine = Engine::page;
  o.on_end = [](const WatchEnd& e) {
    ended_id = e.watch_id;
    if (std::string_view(e.syscall) == "munmap") ended.fetch_add(1);
  };
  Watch w = watch(o);
  store<std::uint64_t>(m, 1);
  EXPECT_EQ(w.hits(), 1u);
  ASSERT_EQ(munmap(m, 4096), 0);
  EXPECT_EQ(ended.load(), 1) << "on_end names munmap";
  EXPECT_EQ(ended_id.load(), w.id());
  EXPECT_LT(w.coverage(), 1.0) << "not armed since its memory went away";
  // The handle still works: move it to new memory.
  void* m2 = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m2, MAP_FAILED);
  w.retarget(reinterpret_cast<std::uintptr_t>(m2), 8);
  store<std::uint64_t>(m2, 2);
  EXPECT_EQ(w.hits(), 2u);
  w.remove();
  store<std::uint64_t>(m2, 3);
  munmap(m2, 4096);
}

TEST(LibraryPageHits, RangesBeyondTheDebugRegistersGoToPageProtectionInAutomaticMode) {
  std::memset(g_page_buffer, 0, sizeof g_page_buffer);
  // 8 KiB: more than any set of debug registers covers (and more than the 4096-byte limit).
  Watch w = watch({reinterpret_cast<std::uintptr_t>(g_page_buffer), 8192, Access::modify});
  EXPECT_EQ(w.mechanism(), Mechanism::page_protection);
  EXPECT_NE(std::string(w.mechanism_reason()), "requested");
  for (int i = 0; i < 8192; i += 512) g_page_buffer[i] = 1;
  EXPECT_EQ(w.hits(), 16u);
  EXPECT_TRUE(active()) << "hwbp::active() covers page watches too";
}

}  // namespace
}  // namespace hwbp::test
