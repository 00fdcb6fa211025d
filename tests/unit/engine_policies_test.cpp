// The policies every watch engine shares (src/core): the sig_data codec, the value filter, the
// shadow-confirmation rule, turn scheduling and pinning, the coverage clock, slots per pool; and
// the perf siginfo decoder (src/perf/sigtrap_info) on hand-built siginfo bytes.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/coverage_clock.hpp"
#include "core/rotation.hpp"
#include "core/sig_data.hpp"
#include "core/value_filter.hpp"
#include "core/value_shadow.hpp"
#include "perf/sigtrap_info.hpp"

namespace hwbp::core {
namespace {

using Bytes = std::vector<std::uint8_t>;

// ---- sig_data ----

TEST(SigData, RoundTripsEveryField) {
  const SigData d{SigDataOwner::tool, 0xdeadbeef, 0x1234};
  const std::uint64_t raw = encode_sig_data(d);
  EXPECT_EQ(raw, 0x6877'dead'beef'1234ull);
  EXPECT_EQ(decode_sig_data(raw, SigDataOwner::tool), d);
}

TEST(SigData, OwnersDoNotReadEachOthersSignals) {
  const std::uint64_t lib = encode_sig_data({SigDataOwner::library, 7, 3});
  EXPECT_TRUE(decode_sig_data(lib, SigDataOwner::library));
  EXPECT_FALSE(decode_sig_data(lib, SigDataOwner::tool));
  EXPECT_FALSE(decode_sig_data(0, SigDataOwner::library));  // a plain perf user's default
  EXPECT_FALSE(decode_sig_data(0x1234, SigDataOwner::tool));
}

TEST(SigData, GenerationWrapsWithoutTouchingTheSlot) {
  const auto d = decode_sig_data(encode_sig_data({SigDataOwner::library, 0xffffffffu, 63}),
                                 SigDataOwner::library);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->generation, 0xffffffffu);
  EXPECT_EQ(d->slot, 63);
}

// ---- value filter ----

TEST(ValueFilter, AccessKindsMapToTheirFilters) {
  EXPECT_EQ(value_filter_for(Access::modify), ValueFilter::changed);
  EXPECT_EQ(value_filter_for(Access::read), ValueFilter::unchanged);
  EXPECT_EQ(value_filter_for(Access::write), ValueFilter::every);
  EXPECT_EQ(value_filter_for(Access::read_write), ValueFilter::every);
  EXPECT_EQ(value_filter_for(Access::exec), ValueFilter::no_value);
}

TEST(ValueFilter, ModifyPassesChangesAndReadPassesTheRest) {
  EXPECT_TRUE(passes_value_filter(Access::modify, ValueChange::changed));
  EXPECT_FALSE(passes_value_filter(Access::modify, ValueChange::unchanged));
  EXPECT_TRUE(passes_value_filter(Access::read, ValueChange::unchanged));
  EXPECT_FALSE(passes_value_filter(Access::read, ValueChange::changed));
  for (Access a : {Access::write, Access::read_write, Access::exec})
    for (ValueChange c : {ValueChange::changed, ValueChange::unchanged, ValueChange::unknown})
      EXPECT_TRUE(passes_value_filter(a, c));
}

TEST(ValueFilter, AnUnknownOldValueNeverDropsAHit) {
  for (Access a : {Access::modify, Access::read, Access::write})
    EXPECT_TRUE(passes_value_filter(a, ValueChange::unknown)) << to_string(a);
}

TEST(ValueFilter, IntegerAndByteComparisonsAgree) {
  EXPECT_EQ(compare_values(true, 5, 6), ValueChange::changed);
  EXPECT_EQ(compare_values(true, 5, 5), ValueChange::unchanged);
  EXPECT_EQ(compare_values(false, 5, 5), ValueChange::unknown);
  const Bytes a{1, 2, 3}, b{1, 2, 4};
  EXPECT_EQ(compare_values(std::span<const std::uint8_t>(a), std::span<const std::uint8_t>(b)),
            ValueChange::changed);
  EXPECT_EQ(compare_values(std::span<const std::uint8_t>(a), std::span<const std::uint8_t>(a)),
            ValueChange::unchanged);
  EXPECT_EQ(compare_values(std::nullopt, std::span<const std::uint8_t>(a)), ValueChange::unknown);
  EXPECT_EQ(compare_values(std::span<const std::uint8_t>(a), std::nullopt), ValueChange::unknown);
  const Bytes empty;
  EXPECT_EQ(compare_values(std::span<const std::uint8_t>(empty), std::span<const std::uint8_t>(a)),
            ValueChange::unknown);
}

// ---- shadow confirmation ----

TEST(ShadowRule, ConfirmedOnlyWhenNoHitCouldHaveRacedTheRead) {
  EXPECT_EQ(shadow_state({.read_ok = true, .race_possible = true, .hit_seen = false,
                          .unchanged_across_arming = true}),
            ShadowState::confirmed);
  // A write trapped between arming and the read: the value read may already be its result.
  EXPECT_EQ(shadow_state({.read_ok = true, .race_possible = true, .hit_seen = true,
                          .unchanged_across_arming = true}),
            ShadowState::tentative);
  // The bytes moved across the arming but no hit was seen yet: a store whose debug exception
  // is still in flight (or one made before arming): not proven either.
  EXPECT_EQ(shadow_state({.read_ok = true, .race_possible = true, .hit_seen = false,
                          .unchanged_across_arming = false}),
            ShadowState::tentative);
  // The arming thread is the only writer, or the program is stopped: the read is final.
  EXPECT_EQ(shadow_state({.read_ok = true, .race_possible = false, .hit_seen = true}),
            ShadowState::confirmed);
  EXPECT_EQ(shadow_state({.read_ok = false, .race_possible = false}), ShadowState::invalid);
}

TEST(ValueShadow, AHitReportsTheConfirmedBytesAndKeepsItsOwn) {
  ValueShadow s;
  s.arm(Bytes{1, 0}, ShadowState::confirmed);
  EXPECT_EQ(s.exchange(Bytes{2, 0}), (Bytes{1, 0}));
  EXPECT_EQ(s.exchange(Bytes{3, 0}), (Bytes{2, 0}));  // values chain from hit to hit
}

TEST(ValueShadow, AnUnconfirmedShadowMakesTheNextOldUnknownOnly) {
  ValueShadow s;
  s.arm(Bytes{7}, ShadowState::tentative);
  EXPECT_EQ(s.exchange(Bytes{7}), std::nullopt);  // not "7 -> 7": the write may be this one
  EXPECT_EQ(s.exchange(Bytes{8}), (Bytes{7}));    // the hit's own read is exact
  s.arm(std::nullopt, ShadowState::confirmed);    // unreadable: never confirmed
  EXPECT_EQ(s.state(), ShadowState::invalid);
  EXPECT_EQ(s.exchange(std::nullopt), std::nullopt);
  EXPECT_EQ(s.exchange(Bytes{9}), std::nullopt);  // the unreadable hit left nothing to compare
  EXPECT_EQ(s.exchange(Bytes{10}), (Bytes{9}));
}

// ---- turns ----

TEST(Turns, RoundRobinOfWholeWatchesThatFit) {
  const std::vector<std::size_t> sizes{1, 1, 1};
  TurnPlan t = plan_turn(sizes, {false, false, false}, 0, 1);
  EXPECT_TRUE(t.changes);
  EXPECT_EQ(t.armed, (std::vector<std::size_t>{0}));
  EXPECT_EQ(t.cursor, 1u);
  t = plan_turn(sizes, {true, false, false}, t.cursor, 1);
  EXPECT_EQ(t.armed, (std::vector<std::size_t>{1}));
  t = plan_turn(sizes, {false, true, false}, t.cursor, 1);
  EXPECT_EQ(t.armed, (std::vector<std::size_t>{2}));
  EXPECT_EQ(t.cursor, 0u);
}

TEST(Turns, StopsAtTheFirstWatchThatDoesNotFit) {
  // Pool of 3: watch 0 (2 slots) fits, watch 1 (2) does not, so watch 2 (1) waits too.
  const std::vector<std::size_t> sizes{2, 2, 1};
  const TurnPlan t = plan_turn(sizes, {false, false, false}, 0, 3);
  EXPECT_EQ(t.armed, (std::vector<std::size_t>{0}));
  EXPECT_EQ(t.cursor, 1u);
}

TEST(Turns, NothingMovesWhenEverythingFitsAndIsArmed) {
  const std::vector<std::size_t> sizes{1, 2};
  EXPECT_TRUE(plan_turn(sizes, {false, true}, 0, 3).changes);
  const TurnPlan t = plan_turn(sizes, {true, true}, 1, 3);
  EXPECT_FALSE(t.changes);
  EXPECT_EQ(t.cursor, 1u);
}

TEST(Turns, AWatchLargerThanThePoolIsSkipped) {
  const std::vector<std::size_t> sizes{1, 3};
  const TurnPlan t = plan_turn(sizes, {true, false}, 1, 2);
  EXPECT_FALSE(t.changes);
  EXPECT_TRUE(t.armed.empty());
  EXPECT_EQ(t.cursor, 0u);  // the next turn starts after it
  EXPECT_FALSE(plan_turn({}, {}, 0, 4).changes);
  EXPECT_FALSE(plan_turn(sizes, {false, false}, 0, 0).changes);
}

TEST(Turns, ThePoolWantsOneSlotPerRotatingChunk) {
  const std::vector<std::size_t> sizes{1, 3, 2};
  EXPECT_EQ(pool_slots_wanted(sizes), 6u);
}

// ---- pinning ----

// A pool of `slots`, watches that never share: pinning watch i takes sizes[i] slots.
Pinning pin_sizes(const std::vector<unsigned>& sizes, unsigned slots, std::size_t limit) {
  Pinning p{0, {slots}};
  for (std::size_t i = 0; i < limit && sizes[i] <= p.free[0]; ++i) p.free[0] -= sizes[i], ++p.pinned;
  return p;
}

Pinning pin_then_rotate_sizes(const std::vector<unsigned>& sizes, unsigned slots,
                              std::vector<unsigned> rotating = {}) {
  return pin_then_rotate(
      sizes.size(), {slots}, [&](std::size_t i) { return std::vector<unsigned>{sizes[i]}; },
      [&](std::size_t limit) { return pin_sizes(sizes, slots, limit); }, rotating);
}

TEST(Pinning, PinsInOrderUpToTheFirstThatDoesNotFit) {
  // The 5-slot watch stops the pinning (and can never be armed); the 1-slot watch after it
  // rotates although it would fit: pins follow command-line order.
  const Pinning p = pin_then_rotate_sizes({1, 5, 1}, 4);
  EXPECT_EQ(p.pinned, 1u);
  EXPECT_EQ(p.free, (std::vector<unsigned>{3}));
  EXPECT_EQ(pin_then_rotate_sizes({1, 1}, 4).pinned, 2u);  // everything fits: all pinned
}

TEST(Pinning, GivesUpPinsUntilTheLargestRotatingWatchFits) {
  const Pinning p = pin_then_rotate_sizes({1, 1, 1, 3}, 4);
  EXPECT_EQ(p.pinned, 1u);
  EXPECT_EQ(p.free, (std::vector<unsigned>{3}));
}

TEST(Pinning, AWatchThatCanNeverFitDoesNotTakeThePinsWithIt) {
  const Pinning p = pin_then_rotate_sizes({1, 1, 1, 5}, 4);
  EXPECT_EQ(p.pinned, 3u);
}

TEST(Pinning, WatchesAlreadyRotatingCountAsRotating) {
  EXPECT_EQ(pin_then_rotate_sizes({1, 1}, 2, {2}).pinned, 0u);
  EXPECT_EQ(pin_then_rotate_sizes({1, 1}, 3, {1}).pinned, 2u);
}

TEST(Pinning, NeedsAloneCountDistinctChunksPerPool) {
  const ArchInfo arm = arch_aarch64();
  const std::vector<Chunk> chunks{{0x1000, 8, HwType::write}, {0x1000, 8, HwType::write},
                                  {0x2000, 4, HwType::exec}};
  EXPECT_EQ(slots_needed_alone(arm, chunks), (std::vector<unsigned>{1, 1}));
  EXPECT_EQ(slots_needed_alone(arch_x86_64(), chunks), (std::vector<unsigned>{2}));
}

// ---- slots per pool ----

TEST(SlotsPerPool, OneMixedPoolOnX86TwoOnAarch64) {
  EXPECT_EQ(slots_per_pool(arch_x86_64()), (std::vector<unsigned>{4}));
  EXPECT_EQ(slots_per_pool(arch_aarch64(6, 4)), (std::vector<unsigned>{6, 4}));
}

// ---- coverage ----

TEST(CoverageClock, ArmedTimeOverWatchedTime) {
  using namespace std::chrono_literals;
  const CoverageClock::Clock::time_point t0{};
  CoverageClock c;
  EXPECT_EQ(c.coverage(t0), 0.0);
  c.set_watched(true, t0);
  c.set_armed(true, t0);
  EXPECT_EQ(c.coverage(t0), 1.0);  // no time passed yet, armed
  c.set_armed(false, t0 + 10ms);
  EXPECT_DOUBLE_EQ(c.coverage(t0 + 40ms), 0.25);
  c.set_armed(true, t0 + 40ms);
  c.set_armed(true, t0 + 50ms);  // already armed: no effect
  EXPECT_DOUBLE_EQ(c.coverage(t0 + 80ms), 0.625);
  c.set_watched(false, t0 + 80ms);
  c.set_armed(false, t0 + 80ms);
  EXPECT_DOUBLE_EQ(c.coverage(t0 + 500ms), 0.625);  // time unwatched does not count
}

}  // namespace
}  // namespace hwbp::core

namespace hwbp::perf {
namespace {

siginfo_t perf_siginfo(std::uint64_t data, std::uint32_t type, std::uint32_t flags, void* addr) {
  siginfo_t si;
  std::memset(&si, 0, sizeof si);
  si.si_signo = SIGTRAP;
  si.si_code = kTrapPerf;
  si.si_addr = addr;
  // include/uapi/asm-generic/siginfo.h on x86-64: _perf._data at 24, _type at 32, _flags at 36.
  auto* raw = reinterpret_cast<unsigned char*>(&si);
  std::memcpy(raw + 24, &data, sizeof data);
  std::memcpy(raw + 32, &type, sizeof type);
  std::memcpy(raw + 36, &flags, sizeof flags);
  return si;
}

TEST(PerfTrap, DecodesTheKernelsLayout) {
  int x = 0;
  const auto t = perf_trap(perf_siginfo(0x6877'0000'0001'0002ull, 5, kTrapPerfFlagAsync, &x));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->data, 0x6877'0000'0001'0002ull);
  EXPECT_EQ(t->type, 5u);
  EXPECT_TRUE(t->async());
  EXPECT_EQ(t->addr, reinterpret_cast<std::uintptr_t>(&x));
  EXPECT_FALSE(perf_trap(perf_siginfo(1, 5, 0, &x))->async());
}

TEST(PerfTrap, OtherSigtrapsAreNotPerfTraps) {
  siginfo_t si = perf_siginfo(1, 5, 0, nullptr);
  si.si_code = 1;  // TRAP_BRKPT: an int3, a debugger's breakpoint
  EXPECT_FALSE(perf_trap(si));
  si = perf_siginfo(1, 5, 0, nullptr);
  si.si_signo = SIGSEGV;
  EXPECT_FALSE(perf_trap(si));
}

}  // namespace
}  // namespace hwbp::perf
