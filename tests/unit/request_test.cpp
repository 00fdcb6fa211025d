#include "core/request.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace hwbp::core {
namespace {

constexpr std::uintptr_t kMax = UINTPTR_MAX;

WatchRequest req(std::uintptr_t addr, std::size_t len, Access access = Access::write) {
  return WatchRequest{addr, len, access};
}

// The rule a validation reports, or nullopt; also checks every message is one line with hex.
std::optional<Rule> rule_of(const std::optional<RuleViolation>& v) {
  if (!v) return std::nullopt;
  EXPECT_EQ(v->message.find('\n'), std::string::npos) << v->message;
  EXPECT_NE(v->message.find("0x"), std::string::npos) << v->message;
  EXPECT_NE(v->message.find("; "), std::string::npos) << "no advice: " << v->message;
  return v->rule;
}

std::optional<Rule> range(const ArchInfo& a, WatchRequest r) {
  return rule_of(validate_range(a, r));
}

const ArchInfo kX86 = arch_x86_64();
const ArchInfo kArm = arch_aarch64();

TEST(UserAddressLimit, PerArch) {
  EXPECT_EQ(user_address_limit(kX86), std::uintptr_t{0x00007ffffffff000});  // TASK_SIZE_MAX
  EXPECT_EQ(user_address_limit(kArm), std::uintptr_t{1} << 48);
}

TEST(Validate, AcceptsOrdinaryRequests) {
  for (std::size_t len : {1, 2, 3, 4, 8, 13}) {
    EXPECT_FALSE(validate_range(kX86, req(0x1001, len)));
    EXPECT_FALSE(validate_range(kX86, req(0x1000, len, Access::read_write)));
    EXPECT_FALSE(validate_range(kX86, req(0x1000, len, Access::modify)));
    EXPECT_FALSE(validate_range(kX86, req(0x1000, len, Access::read)));  // emulated on x86
  }
  EXPECT_FALSE(validate_range(kX86, req(0x401003, 1, Access::exec)));
  EXPECT_FALSE(validate_range(kX86, req(0x401003, 8, Access::exec)));
  EXPECT_FALSE(validate_range(kArm, req(0x1001, 3)));
  EXPECT_FALSE(validate_range(kArm, req(0x1006, 2, Access::read)));
  EXPECT_FALSE(validate_range(kArm, req(0x401000, 4, Access::exec)));
  EXPECT_FALSE(validate_range(kX86, req(0x1003, 13, Access::read)));
  EXPECT_FALSE(validate_range(kArm, req(0x1003, 13, Access::read)));
  EXPECT_FALSE(validate_range(kX86, req(0x1001, kMaxRangeLen)));
}

TEST(Validate, NullAddress) {
  const auto v = validate_range(kX86, req(0, 4));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->rule, Rule::null_address);
  EXPECT_EQ(v->message,
            "address 0x0 (length 4): cannot watch the null address; pass the "
            "object's address");
  EXPECT_EQ(range(kArm, req(0, 0)), Rule::null_address);  // reported before the zero length
}

TEST(Validate, ZeroLength) {
  const auto v = validate_range(kX86, req(0x1000, 0));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->rule, Rule::zero_length);
  EXPECT_EQ(v->message, "length 0 at 0x1000: nothing to watch; pass a length of at least 1 byte");
  EXPECT_EQ(range(kArm, req(0x1000, 0)), Rule::zero_length);
}

TEST(Validate, Wraps) {
  EXPECT_EQ(range(kX86, req(kMax, 2)), Rule::wraps);
  EXPECT_EQ(range(kX86, req(kMax - 7, 9)), Rule::wraps);
  EXPECT_EQ(range(kArm, req(kMax, kMax)), Rule::wraps);
  // Ending exactly at the top of the address space does not wrap: it is a kernel address.
  EXPECT_EQ(range(kX86, req(kMax - 7, 8)), Rule::kernel_address);
  EXPECT_EQ(range(kX86, req(kMax, 1)), Rule::kernel_address);
}

TEST(Validate, KernelAddressX86) {
  const auto v = validate_range(kX86, req(0x7fffffffeffc, 8));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->rule, Rule::kernel_address);
  EXPECT_EQ(v->message,
            "length 8 at 0x7fffffffeffc: reaches kernel space (user addresses end "
            "below 0x7ffffffff000 on x86-64); watch a user-space address");
  EXPECT_FALSE(validate_range(kX86, req(0x7fffffffeff8, 8)));
  EXPECT_FALSE(validate_range(kX86, req(0x7fffffffefff, 1)));
  // The last page below 1 << 47 is not user space either (TASK_SIZE_MAX).
  EXPECT_EQ(range(kX86, req(0x7ffffffff000, 1)), Rule::kernel_address);
  EXPECT_EQ(range(kX86, req(0x800000000000, 1)), Rule::kernel_address);
  EXPECT_EQ(range(kX86, req(0x7ffffffffff8, 9)), Rule::kernel_address);
  EXPECT_EQ(range(kX86, req(0xffffffff81000000, 8, Access::exec)), Rule::kernel_address);
}

TEST(Validate, KernelAddressAarch64) {
  EXPECT_FALSE(validate_range(kArm, req(0xfffffffffff8, 8)));
  EXPECT_FALSE(validate_range(kArm, req(0x800000000000, 8)));  // user space on 48-bit VA
  EXPECT_EQ(range(kArm, req(0x1000000000000, 1)), Rule::kernel_address);
  EXPECT_EQ(range(kArm, req(0xfffffffffffc, 8)), Rule::kernel_address);
}

TEST(Validate, UnalignedAarch64Exec) {
  // A64 instructions sit on 4-byte boundaries.
  EXPECT_EQ(range(kArm, req(0x401002, 4, Access::exec)), Rule::unaligned);
  EXPECT_EQ(range(kArm, req(0x401001, 1, Access::exec)), Rule::unaligned);
}

TEST(Validate, ExecLength) {
  const auto v = validate_range(kX86, req(0x401000, 2, Access::exec));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->rule, Rule::exec_length);
  EXPECT_EQ(v->message,
            "length 2 at 0x401000: an execute breakpoint covers one instruction; pass "
            "length 1 or 8 on x86-64");
  EXPECT_EQ(range(kX86, req(0x401000, 16, Access::exec)), Rule::exec_length);
  EXPECT_EQ(range(kX86, req(0x401000, 4, Access::exec)), Rule::exec_length);
  EXPECT_EQ(range(kArm, req(0x401000, 8, Access::exec)), Rule::exec_length);
  EXPECT_FALSE(validate_range(kArm, req(0x401000, 1, Access::exec)));
  EXPECT_FALSE(validate_range(kX86, req(0x401001, 8, Access::exec)));
}

TEST(Validate, TooLarge) {
  const auto v = validate_range(kX86, req(0x1000, kMaxRangeLen + 1));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->rule, Rule::too_large);
  EXPECT_EQ(v->message,
            "length 4097 at 0x1000: a range watch covers at most 4096 bytes; watch a "
            "smaller range");
  EXPECT_EQ(range(kArm, req(0x1000, 1 << 20, Access::read)), Rule::too_large);
}

}  // namespace
}  // namespace hwbp::core
