// core::resolve_store_order: the exact values of racing stores from the instructions, the
// observations and the bounds on each store's place in the order (issue 17). Pure.
#include "core/store_order.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace hwbp::core {
namespace {

using Obs = std::vector<std::optional<ValueBytes>>;

ValueBytes v8(std::uint64_t v) {
  ValueBytes b(8);
  std::memcpy(b.data(), &v, 8);
  return b;
}

std::uint64_t u(const std::optional<ValueBytes>& b) {
  std::uint64_t v = 0;
  if (b) std::memcpy(&v, b->data(), std::min<std::size_t>(8, b->size()));
  return v;
}

PlacedHit store(std::size_t after, std::size_t upper, std::uint64_t value) {
  PlacedHit h{after, upper, {}};
  h.effect.kind = StoreEffect::Kind::store;
  h.effect.size = 8;
  h.effect.bytes = v8(value);
  return h;
}

PlacedHit add(std::size_t after, std::size_t upper, std::uint64_t delta) {
  PlacedHit h{after, upper, {}};
  h.effect.kind = StoreEffect::Kind::rmw;
  h.effect.size = 8;
  h.effect.op = StoreEffect::Op::add;
  h.effect.operand = delta;
  return h;
}

PlacedHit exchange(std::size_t after, std::size_t upper, std::uint64_t old) {
  PlacedHit h{after, upper, {}};
  h.effect.kind = StoreEffect::Kind::exchange;
  h.effect.size = 8;
  h.effect.old = v8(old);
  return h;
}

Obs obs(std::initializer_list<std::uint64_t> values) {
  Obs o;
  for (auto v : values) o.push_back(v8(v));
  return o;
}

void expect_exact(const ResolvedHit& r, std::uint64_t old, std::uint64_t now) {
  EXPECT_TRUE(r.old_exact);
  EXPECT_TRUE(r.new_exact);
  EXPECT_EQ(u(r.old_value), old);
  EXPECT_EQ(u(r.new_value), now);
}

TEST(StoreOrder, OneWriterChainsItsObservations) {
  auto r = resolve_store_order(8, obs({0, 5, 7}), {store(0, 1, 5), store(1, 2, 7)});
  expect_exact(r[0], 0, 5);
  expect_exact(r[1], 5, 7);
  EXPECT_LT(r[0].rank, r[1].rank);
}

TEST(StoreOrder, AStoreOverwrittenBeforeItsObservationIsPlacedByTheValueSeen) {
  // A stored 5, then B 7, and A's observation already saw 7: the only consistent order is A, B.
  auto r = resolve_store_order(8, obs({0, 7, 7}), {store(0, 1, 5), store(0, 2, 7)});
  expect_exact(r[0], 0, 5);
  expect_exact(r[1], 5, 7);
  EXPECT_LT(r[0].rank, r[1].rank);
  // Listed in the other order (B observed first), same answer.
  r = resolve_store_order(8, obs({0, 7, 7}), {store(0, 2, 5), store(0, 1, 7)});
  expect_exact(r[0], 0, 5);
  expect_exact(r[1], 5, 7);
  EXPECT_LT(r[0].rank, r[1].rank);
}

TEST(StoreOrder, TwoStoresNoObservationTellsApartAreNotExact) {
  // 5 and 7 both stored before 9 and neither seen: either came first.
  auto r = resolve_store_order(8, obs({0, 9}), {store(0, 1, 5), store(0, 1, 7), store(0, 1, 9)});
  for (const auto& h : r) EXPECT_TRUE(h.new_exact);  // each store's own value: always known
  EXPECT_FALSE(r[0].old_exact);
  EXPECT_FALSE(r[1].old_exact);
  EXPECT_FALSE(r[2].old_exact);  // 5 or 7
  EXPECT_EQ(u(r[2].new_value), 9u);
}

PlacedHit with_flags(PlacedHit h, std::uint64_t result) {
  h.effect.flags_known = true;
  h.effect.flags = (result == 0 ? 1u << 6 : 0) | ((result >> 63) ? 1u << 7 : 0) |
                   (__builtin_popcount(unsigned(result & 0xff)) % 2 == 0 ? 1u << 2 : 0);
  return h;
}

TEST(StoreOrder, CounterIncrementsAreOrderedByTheFlagsTheyLeft) {
  // lock add 1 twice between the same observations, the second observed later: either could
  // have made 1 -> 2, unless the flags each left (PF of 2 and 3 differ) say which.
  auto r = resolve_store_order(8, obs({1, 3, 3}), {add(0, 1, 1), add(0, 2, 1)});
  EXPECT_FALSE(r[0].old_exact);
  EXPECT_FALSE(r[0].new_exact);
  EXPECT_FALSE(r[1].new_exact);
  r = resolve_store_order(8, obs({1, 3, 3}), {with_flags(add(0, 1, 1), 3), with_flags(add(0, 2, 1), 2)});
  expect_exact(r[0], 2, 3);
  expect_exact(r[1], 1, 2);
  EXPECT_LT(r[1].rank, r[0].rank);
  // Flags that no order explains: nothing exact.
  r = resolve_store_order(8, obs({1, 3}), {with_flags(add(0, 1, 1), 3), with_flags(add(0, 1, 1), 3)});
  EXPECT_FALSE(r[0].old_exact);
}

TEST(StoreOrder, ExchangesStateTheirOldValueAndSoThePreviousNewOne) {
  // xadd: each hit knows its old value; the new one is the next old (or the value seen).
  auto r = resolve_store_order(8, obs({0, 2}), {exchange(0, 1, 1), exchange(0, 1, 0)});
  expect_exact(r[1], 0, 1);
  expect_exact(r[0], 1, 2);
  EXPECT_LT(r[1].rank, r[0].rank);
}

TEST(StoreOrder, CompareExchangeFailureIsASameValueWrite) {
  PlacedHit fail{1, 2, {}};
  fail.effect.kind = StoreEffect::Kind::compare_exchange;
  fail.effect.size = 8;
  fail.effect.old = v8(5);
  fail.effect.bytes = v8(5);
  auto r = resolve_store_order(8, obs({0, 5, 5}), {store(0, 1, 5), fail});
  expect_exact(r[1], 5, 5);
}

TEST(StoreOrder, AStoreNobodySawMakesTheOrderInconsistent) {
  // The bytes became 9 though no hit wrote 9 (another process, the kernel, a lost hit): the
  // stores' own values stay exact, the old values do not.
  auto r = resolve_store_order(8, obs({0, 5, 9}), {store(0, 1, 5), store(1, 2, 7)});
  expect_exact(r[0], 0, 5);  // before the unseen store: unaffected
  EXPECT_EQ(u(r[1].new_value), 7u);
  EXPECT_TRUE(r[1].new_exact);
  EXPECT_FALSE(r[1].old_exact);
  r = resolve_store_order(8, obs({0, 9}), {store(0, 1, 5), store(0, 1, 7)});
  EXPECT_FALSE(r[0].old_exact);
  EXPECT_FALSE(r[1].old_exact);
  EXPECT_TRUE(r[0].new_exact);
}

TEST(StoreOrder, UnknownEffectsTakeTheValueSeenOnlyWhenAlone) {
  PlacedHit unknown{0, 1, {}};
  auto r = resolve_store_order(8, obs({0, 3}), {unknown});
  expect_exact(r[0], 0, 3);
  r = resolve_store_order(8, obs({0, 3}), {unknown, unknown});
  EXPECT_FALSE(r[0].new_exact && r[1].new_exact);
}

TEST(StoreOrder, PartialStoresNeedTheOldBytes) {
  PlacedHit half{0, 1, {}};
  half.effect.kind = StoreEffect::Kind::store;
  half.effect.offset = 4;
  half.effect.size = 4;
  half.effect.bytes = {1, 0, 0, 0};
  auto r = resolve_store_order(8, obs({0x22, 0x100000022}), {half});
  expect_exact(r[0], 0x22, 0x100000022);
}

TEST(StoreOrder, UnreadObservationsLeaveValuesUnknown) {
  Obs o = obs({0, 0});
  o[0].reset();
  auto r = resolve_store_order(8, o, {add(0, 1, 1)});
  EXPECT_FALSE(r[0].old_exact);
  EXPECT_TRUE(r[0].new_exact);  // the only store before the value seen
  EXPECT_EQ(u(r[0].new_value), 0u);
}

TEST(StoreOrder, TooManyCandidatesAreNotGuessed) {
  std::vector<PlacedHit> hits;
  for (int i = 0; i < 10; ++i) hits.push_back(store(0, 1, 100 + i));
  auto r = resolve_store_order(8, obs({0, 109}), hits, OrderLimits{.max_candidates = 6});
  for (const auto& h : r) {
    EXPECT_FALSE(h.old_exact);
    EXPECT_TRUE(h.new_exact);
  }
}

TEST(StoreOrder, IndependentSegmentsAndRanks) {
  // Three writers, cut points between: ranks follow the observations.
  std::vector<PlacedHit> hits = {store(2, 3, 30), store(0, 1, 10), store(1, 2, 20)};
  auto r = resolve_store_order(8, obs({0, 10, 20, 30}), hits);
  expect_exact(r[1], 0, 10);
  expect_exact(r[2], 10, 20);
  expect_exact(r[0], 20, 30);
  EXPECT_EQ(r[1].rank, 0u);
  EXPECT_EQ(r[2].rank, 1u);
  EXPECT_EQ(r[0].rank, 2u);
}

}  // namespace
}  // namespace hwbp::core
