#include "core/slot_table.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace hwbp::core {
namespace {

const ArchInfo kX86 = arch_x86_64();
const ArchInfo kArm = arch_aarch64();  // 6 BRPs, 4 WRPs

SlotKey data_key(std::uintptr_t addr, std::uint64_t target = kProcessTarget, bool sigtrap = true,
                 std::uint8_t len = 4) {
  return SlotKey{Chunk{addr, len, HwType::write}, target, sigtrap};
}

SlotKey exec_key(std::uintptr_t addr, std::uint64_t target = kProcessTarget) {
  return SlotKey{Chunk{addr, 4, HwType::exec}, target, true};
}

// plan + commit; fails the test when the plan does not fit. Returns the entries used.
std::vector<int> add(SlotTable& t, const std::vector<SlotKey>& keys) {
  const auto r = t.plan(keys);
  EXPECT_TRUE(r.plan.has_value()) << "plan error " << int(r.error);
  if (!r.plan) return {};
  t.commit(*r.plan, keys);
  return {r.plan->slot_of_key.begin(), r.plan->slot_of_key.end()};
}

std::vector<SlotKey> keys_of(const std::vector<Chunk>& chunks,
                             std::uint64_t target = kProcessTarget) {
  std::vector<SlotKey> keys;
  for (const Chunk& c : chunks) keys.push_back(SlotKey{c, target, true});
  return keys;
}

TEST(SlotTable, IdenticalChunksShareOneEntry) {
  SlotTable t(kX86, 64, {4});
  const std::vector<SlotKey> k{data_key(0x1000)};
  const auto first = t.plan(k);
  ASSERT_TRUE(first.plan);
  EXPECT_EQ(first.plan->created, std::vector<int>{0});
  t.commit(*first.plan, k);
  const auto second = t.plan(k);
  ASSERT_TRUE(second.plan);
  EXPECT_TRUE(second.plan->created.empty());
  EXPECT_EQ(second.plan->slot_of_key, std::vector<int>{0});
  t.commit(*second.plan, k);
  EXPECT_EQ(t.used(), 1u);
  EXPECT_EQ(t.refcount(0), 2u);
  EXPECT_EQ(t.key(0), k[0]);
  EXPECT_EQ(t.thread_load(kProcessTarget, 0), 1u);
}

TEST(SlotTable, IdenticalKeysWithinOnePlanShareOneNewEntry) {
  SlotTable t(kX86, 64, {4});
  const std::vector<SlotKey> k{data_key(0x1000), data_key(0x2000), data_key(0x1000)};
  const auto r = t.plan(k);
  ASSERT_TRUE(r.plan);
  EXPECT_EQ(r.plan->created, (std::vector<int>{0, 1}));
  EXPECT_EQ(r.plan->slot_of_key, (std::vector<int>{0, 1, 0}));
  t.commit(*r.plan, k);
  EXPECT_EQ(t.refcount(0), 2u);
  EXPECT_EQ(t.refcount(1), 1u);
}

TEST(SlotTable, DifferentTargetOrDeliveryIsNotShared) {
  SlotTable t(kX86, 64, {4});
  add(t, {data_key(0x1000), data_key(0x1000, 42), data_key(0x1000, kProcessTarget, false),
          data_key(0x1000, kProcessTarget, true, 8)});
  EXPECT_EQ(t.used(), 4u);
}

TEST(SlotTable, PlanIsADryRun) {
  SlotTable t(kX86, 64, {4});
  const std::vector<SlotKey> k{data_key(0x1000), data_key(0x2000)};
  ASSERT_TRUE(t.plan(k).plan);
  ASSERT_TRUE(t.plan(k).plan);
  EXPECT_EQ(t.used(), 0u);
  EXPECT_FALSE(t.in_use(0));
  EXPECT_EQ(t.refcount(0), 0u);
}

TEST(SlotTable, ReleaseFreesOnlyAtZero) {
  SlotTable t(kX86, 64, {4});
  const auto a = add(t, {data_key(0x1000), data_key(0x2000)});
  add(t, {data_key(0x1000)});
  ASSERT_EQ(t.refcount(a[0]), 2u);
  EXPECT_TRUE(t.release(std::vector<int>{a[0]}).empty());
  EXPECT_EQ(t.refcount(a[0]), 1u);
  EXPECT_EQ(t.release(a), a);  // both reach zero now
  EXPECT_EQ(t.used(), 0u);
  EXPECT_FALSE(t.in_use(a[0]));
  // Releasing again, or an index that never existed, is ignored.
  EXPECT_TRUE(t.release(std::vector<int>{a[0], -1, 64, 1000}).empty());
  // A freed entry is reused.
  EXPECT_EQ(add(t, {data_key(0x3000)}), std::vector<int>{0});
}

TEST(SlotTable, FifthChunkOnX86FailsAndChangesNothing) {
  SlotTable t(kX86, 64, {4});
  // 16 bytes at 0x1001 split into 1, 2, 4, 8, 1: five slots.
  const auto chunks = split_range(kX86, {0x1001, 16, Access::write});
  ASSERT_EQ(chunks.size(), 5u);
  const auto keys = keys_of(chunks);
  const auto r = t.plan(keys);
  EXPECT_FALSE(r.plan);
  EXPECT_EQ(r.error, SlotTable::PlanError::thread_slots);
  EXPECT_EQ(r.pool, 0u);
  EXPECT_EQ(r.needed, 5u);
  EXPECT_EQ(r.available, 4u);
  EXPECT_EQ(t.used(), 0u);

  // Four fit; a fifth distinct one then fails, sharing one of the four still works.
  const std::vector<SlotKey> four(keys.begin(), keys.begin() + 4);
  add(t, four);
  const std::vector<SlotKey> fifth{keys[4]};
  const auto r5 = t.plan(fifth);
  EXPECT_EQ(r5.error, SlotTable::PlanError::thread_slots);
  EXPECT_EQ(r5.needed, 5u);
  EXPECT_EQ(r5.available, 4u);
  EXPECT_EQ(t.used(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(t.refcount(i), 1u);
  EXPECT_TRUE(t.plan(std::vector<SlotKey>{keys[2]}).plan);
}

TEST(SlotTable, ProcessAndPerThreadLoads) {
  SlotTable t(kX86, 64, {4});
  add(t, {data_key(0x1000), data_key(0x2000)});            // every thread: 2
  add(t, {data_key(0x3000, 100), data_key(0x4000, 100)});  // thread 100: 4
  add(t, {data_key(0x5000, 200), data_key(0x6000, 200)});  // thread 200: 4 (independent)
  EXPECT_EQ(t.thread_load(100, 0), 4u);
  EXPECT_EQ(t.thread_load(200, 0), 4u);
  EXPECT_EQ(t.thread_load(300, 0), 2u);
  EXPECT_EQ(t.thread_load(kProcessTarget, 0), 2u);

  auto r = t.plan(std::vector<SlotKey>{data_key(0x7000, 100)});
  EXPECT_EQ(r.error, SlotTable::PlanError::thread_slots);
  EXPECT_EQ(r.needed, 5u);
  // A process-wide chunk lands on thread 100 and 200 too.
  r = t.plan(std::vector<SlotKey>{data_key(0x7000)});
  EXPECT_EQ(r.error, SlotTable::PlanError::thread_slots);
  EXPECT_EQ(r.needed, 5u);
  // A new thread has room for two more of its own.
  EXPECT_TRUE(t.plan(std::vector<SlotKey>{data_key(0x7000, 300), data_key(0x8000, 300)}).plan);
  r = t.plan(
      std::vector<SlotKey>{data_key(0x7000, 300), data_key(0x8000, 300), data_key(0x9000, 300)});
  EXPECT_EQ(r.error, SlotTable::PlanError::thread_slots);
  EXPECT_EQ(r.needed, 5u);
  EXPECT_EQ(t.used(), 6u);
}

TEST(SlotTable, Aarch64SeparatePools) {
  SlotTable t(kArm, 64, {6, 4});
  std::vector<SlotKey> data, exec;
  for (int i = 0; i < 4; ++i) data.push_back(data_key(0x1000 + 8 * i));
  for (int i = 0; i < 6; ++i) exec.push_back(exec_key(0x401000 + 4 * i));
  add(t, data);
  add(t, exec);  // instruction slots do not compete with data slots
  EXPECT_EQ(t.thread_load(1, 0), 6u);
  EXPECT_EQ(t.thread_load(1, 1), 4u);

  auto r = t.plan(std::vector<SlotKey>{data_key(0x2000)});
  EXPECT_EQ(r.error, SlotTable::PlanError::thread_slots);
  EXPECT_EQ(r.pool, 1u);
  EXPECT_EQ(r.needed, 5u);
  EXPECT_EQ(r.available, 4u);
  r = t.plan(std::vector<SlotKey>{exec_key(0x402000)});
  EXPECT_EQ(r.error, SlotTable::PlanError::thread_slots);
  EXPECT_EQ(r.pool, 0u);
  EXPECT_EQ(r.needed, 7u);
  EXPECT_EQ(r.available, 6u);
}

TEST(SlotTable, CapacityLimitIsTableFull) {
  SlotTable t(kX86, 3, {64});
  EXPECT_EQ(t.capacity(), 3u);
  const auto r4 = t.plan(
      std::vector<SlotKey>{data_key(0x1000), data_key(0x2000), data_key(0x3000), data_key(0x4000)});
  EXPECT_FALSE(r4.plan);
  EXPECT_EQ(r4.error, SlotTable::PlanError::table_full);
  EXPECT_EQ(t.used(), 0u);
  add(t, {data_key(0x1000), data_key(0x2000), data_key(0x3000)});
  EXPECT_EQ(t.plan(std::vector<SlotKey>{data_key(0x4000)}).error, SlotTable::PlanError::table_full);
  // A full table still shares.
  EXPECT_TRUE(t.plan(std::vector<SlotKey>{data_key(0x2000), data_key(0x2000)}).plan);
}

TEST(SlotTable, StalePlanIsRejectedWithoutChanges) {
  SlotTable t(kX86, 64, {4});
  const std::vector<SlotKey> a{data_key(0x1000)}, b{data_key(0x2000)};
  const auto pa = t.plan(a);
  const auto pb = t.plan(b);
  ASSERT_TRUE(pa.plan && pb.plan);
  t.commit(*pb.plan, b);  // takes entry 0, which pa also planned to create
  EXPECT_THROW(t.commit(*pa.plan, a), std::invalid_argument);
  EXPECT_EQ(t.used(), 1u);
  EXPECT_EQ(t.key(0), b[0]);
  EXPECT_THROW(t.commit(*pb.plan, a), std::invalid_argument);  // wrong keys
}

TEST(SlotTable, ConstructorChecksConfiguration) {
  EXPECT_THROW(SlotTable(kX86, 65, {4}), std::invalid_argument);
  EXPECT_THROW(SlotTable(kArm, 8, {4}), std::invalid_argument);
  EXPECT_THROW(SlotTable(kX86, 8, {4, 4}), std::invalid_argument);
  EXPECT_NO_THROW(SlotTable(kX86, 64, {4}));
}

}  // namespace
}  // namespace hwbp::core
