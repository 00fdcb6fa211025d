#include "core/arch.hpp"

#include <gtest/gtest.h>
#include <linux/hw_breakpoint.h>

namespace hwbp::core {
namespace {

TEST(HwType, ValuesMatchTheKernelUapi) {
  EXPECT_EQ(static_cast<int>(HwType::read), HW_BREAKPOINT_R);
  EXPECT_EQ(static_cast<int>(HwType::write), HW_BREAKPOINT_W);
  EXPECT_EQ(static_cast<int>(HwType::read_write), HW_BREAKPOINT_RW);
  EXPECT_EQ(static_cast<int>(HwType::exec), HW_BREAKPOINT_X);
}

TEST(HwType, NamesAndSlotClass) {
  EXPECT_STREQ(to_string(HwType::read), "r");
  EXPECT_STREQ(to_string(HwType::write), "w");
  EXPECT_STREQ(to_string(HwType::read_write), "rw");
  EXPECT_STREQ(to_string(HwType::exec), "x");
  EXPECT_EQ(slot_class_of(HwType::exec), SlotClass::inst);
  EXPECT_EQ(slot_class_of(HwType::read), SlotClass::data);
  EXPECT_EQ(slot_class_of(HwType::write), SlotClass::data);
  EXPECT_EQ(slot_class_of(HwType::read_write), SlotClass::data);
}

TEST(ArchX86, OneMixedPoolOfFour) {
  const ArchInfo a = arch_x86_64();
  EXPECT_EQ(a.kind, ArchKind::x86_64);
  EXPECT_STREQ(a.name, "x86-64");
  EXPECT_TRUE(a.mixed_pool);
  EXPECT_EQ(a.pool_count(), 1u);
  EXPECT_EQ(a.slots(SlotClass::inst), 4u);
  EXPECT_EQ(a.slots(SlotClass::data), 4u);
  EXPECT_EQ(a.pool_of(SlotClass::inst), 0u);
  EXPECT_EQ(a.pool_of(SlotClass::data), 0u);
  EXPECT_FALSE(a.has_read_only);
  EXPECT_EQ(a.exec_len, sizeof(long));
  EXPECT_EQ(a.max_len, 8u);
  EXPECT_FALSE(a.byte_select);
}

TEST(ArchAarch64, SeparatePoolsWithDefaults) {
  const ArchInfo a = arch_aarch64();
  EXPECT_EQ(a.kind, ArchKind::aarch64);
  EXPECT_STREQ(a.name, "aarch64");
  EXPECT_FALSE(a.mixed_pool);
  EXPECT_EQ(a.pool_count(), 2u);
  EXPECT_EQ(a.inst_slots, 6u);
  EXPECT_EQ(a.data_slots, 4u);
  EXPECT_EQ(a.pool_of(SlotClass::inst), 0u);
  EXPECT_EQ(a.pool_of(SlotClass::data), 1u);
  EXPECT_TRUE(a.has_read_only);
  EXPECT_EQ(a.exec_len, 4u);
  EXPECT_EQ(a.max_len, 8u);
  EXPECT_TRUE(a.byte_select);
}

TEST(ArchAarch64, SlotCountsClampedToTwoThroughSixteen) {
  EXPECT_EQ(arch_aarch64(0, 1).inst_slots, 2u);
  EXPECT_EQ(arch_aarch64(0, 1).data_slots, 2u);
  EXPECT_EQ(arch_aarch64(16, 16).inst_slots, 16u);
  EXPECT_EQ(arch_aarch64(17, 100).inst_slots, 16u);
  EXPECT_EQ(arch_aarch64(17, 100).data_slots, 16u);
  EXPECT_EQ(arch_aarch64(3, 5).slots(SlotClass::inst), 3u);
  EXPECT_EQ(arch_aarch64(3, 5).slots(SlotClass::data), 5u);
}

TEST(HostArch, MatchesTheCompiler) {
#if defined(__x86_64__)
  EXPECT_EQ(host_arch().kind, ArchKind::x86_64);
#elif defined(__aarch64__)
  EXPECT_EQ(host_arch().kind, ArchKind::aarch64);
#endif
}

TEST(HwTypeFor, X86EmulatesReadWithReadWrite) {
  const ArchInfo a = arch_x86_64();
  EXPECT_EQ(hw_type_for(a, Access::exec), HwType::exec);
  EXPECT_EQ(hw_type_for(a, Access::write), HwType::write);
  EXPECT_EQ(hw_type_for(a, Access::read_write), HwType::read_write);
  EXPECT_EQ(hw_type_for(a, Access::read), HwType::read_write);
  EXPECT_EQ(hw_type_for(a, Access::modify), HwType::write);
}

TEST(HwTypeFor, Aarch64HasRealReadOnly) {
  const ArchInfo a = arch_aarch64();
  EXPECT_EQ(hw_type_for(a, Access::exec), HwType::exec);
  EXPECT_EQ(hw_type_for(a, Access::write), HwType::write);
  EXPECT_EQ(hw_type_for(a, Access::read_write), HwType::read_write);
  EXPECT_EQ(hw_type_for(a, Access::read), HwType::read);
  EXPECT_EQ(hw_type_for(a, Access::modify), HwType::write);
}

}  // namespace
}  // namespace hwbp::core
