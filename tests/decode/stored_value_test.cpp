// Values of a store derived from the registers after it (issue 17's hardware hits).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "decode/stored_value.hpp"

namespace hwbp::decode {
namespace {

constexpr std::uint64_t kAt = 0x400000;

Registers after_regs() {
  Registers r;
  for (int i = 0; i < 16; ++i) r.gpr[std::size_t(i)] = 0x1000 * std::uint64_t(i + 1);
  return r;
}

std::uint64_t u64(const std::array<std::uint8_t, 32>& b) {
  std::uint64_t v = 0;
  std::memcpy(&v, b.data(), 8);
  return v;
}

StoredValue derive(std::vector<std::uint8_t> code, const Registers& r, const VectorState& v = {}) {
  return stored_value_after(code, kAt, r, v);
}

TEST(StoredValue, MovFromRegisterAndImmediate) {
  Registers r = after_regs();
  r.gpr[rbx] = 0x1122334455667788;
  auto s = derive({0x48, 0x89, 0x58, 0x08}, r);  // mov [rax+8], rbx
  ASSERT_TRUE(s.new_known);
  EXPECT_FALSE(s.old_known);
  EXPECT_TRUE(s.address_known);
  EXPECT_EQ(s.write.addr, r.gpr[rax] + 8);
  EXPECT_EQ(s.write.size, 8u);
  EXPECT_EQ(u64(s.new_bytes), 0x1122334455667788u);
  s = derive({0xc7, 0x05, 0x00, 0x01, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00}, r);  // mov [rip+0x100], 42
  EXPECT_EQ(s.write.addr, kAt + 10 + 0x100);
  EXPECT_EQ(u64(s.new_bytes) & 0xffffffff, 42u);
}

TEST(StoredValue, ExchangesGiveTheOldValue) {
  Registers r = after_regs();
  r.gpr[rax] = 77;
  auto s = derive({0x48, 0x87, 0x07}, r);  // xchg [rdi], rax: rax now holds the old bytes
  EXPECT_TRUE(s.old_known);
  EXPECT_FALSE(s.new_known);
  EXPECT_EQ(u64(s.old_bytes), 77u);
  s = derive({0xf0, 0x48, 0x0f, 0xc1, 0x07}, r);  // lock xadd [rdi], rax
  EXPECT_TRUE(s.old_known);
  EXPECT_EQ(u64(s.old_bytes), 77u);
}

TEST(StoredValue, CmpxchgSuccessAndFailure) {
  Registers r = after_regs();
  r.gpr[rax] = 5;
  r.gpr[rcx] = 9;
  r.rflags = kFlagZF;  // exchanged: memory was rax (5), now rcx (9)
  auto s = derive({0xf0, 0x48, 0x0f, 0xb1, 0x0f}, r);
  ASSERT_TRUE(s.new_known && s.old_known);
  EXPECT_EQ(u64(s.new_bytes), 9u);
  EXPECT_EQ(u64(s.old_bytes), 5u);
  r.rflags = 0;  // failed: memory held rax-after, written back unchanged
  s = derive({0xf0, 0x48, 0x0f, 0xb1, 0x0f}, r);
  EXPECT_EQ(u64(s.new_bytes), 5u);
  EXPECT_EQ(u64(s.old_bytes), 5u);
}

TEST(StoredValue, PushAndCallAtTheNewStackPointer) {
  Registers r = after_regs();
  r.gpr[rbx] = 0xabc;
  auto s = derive({0x53}, r);
  EXPECT_EQ(s.write.addr, r.gpr[rsp]);
  EXPECT_EQ(u64(s.new_bytes), 0xabcu);
  s = derive({0xff, 0xd0}, r);  // call rax: the return address
  EXPECT_EQ(u64(s.new_bytes), kAt + 2);
}

TEST(StoredValue, AddressLostWhenTheInstructionOverwritesItsBase) {
  Registers r = after_regs();
  auto s = derive({0x48, 0x87, 0x00}, r);  // xchg [rax], rax
  EXPECT_FALSE(s.address_known);
}

TEST(StoredValue, SetccAndVectorStore) {
  Registers r = after_regs();
  r.rflags = kFlagZF;
  auto s = derive({0x0f, 0x94, 0x07}, r);
  ASSERT_TRUE(s.new_known);
  EXPECT_EQ(s.new_bytes[0], 1);
  std::vector<std::uint8_t> xs(832, 0);
  for (int j = 0; j < 16; ++j) xs[std::size_t(160 + 16 + j)] = std::uint8_t(j + 1);
  std::uint64_t bv = 3;
  std::memcpy(&xs[512], &bv, 8);
  s = derive({0x0f, 0x11, 0x0f}, r, VectorState{xs.data(), xs.size()});  // movups [rdi], xmm1
  ASSERT_TRUE(s.new_known);
  EXPECT_EQ(s.new_bytes[0], 1);
  EXPECT_EQ(s.new_bytes[15], 16);
}

TEST(StoredValue, ArithmeticIsUnknown) {
  auto s = derive({0x83, 0x07, 0x01}, after_regs());  // add [rdi], 1
  EXPECT_FALSE(s.new_known);
  EXPECT_FALSE(s.old_known);
  EXPECT_TRUE(s.address_known);
}

}  // namespace
}  // namespace hwbp::decode

namespace hwbp::decode {
namespace {

TEST(StoredValue, ReadModifyWriteGivesTheOperation) {
  Registers r = after_regs();
  r.gpr[rbx] = 5;
  auto s = derive({0xf0, 0x48, 0x83, 0x05, 0x10, 0x00, 0x00, 0x00, 0x01}, r);  // lock add qword [rip+0x10], 1
  EXPECT_EQ(s.rmw, Rmw::add);
  EXPECT_EQ(s.operand, 1u);
  EXPECT_FALSE(s.new_known);
  EXPECT_FALSE(s.old_known);
  EXPECT_EQ(s.write.size, 8u);
  EXPECT_EQ(apply_rmw(s.rmw, 41, s.operand, 8), 42u);
  s = derive({0x48, 0x01, 0x18}, r);  // add [rax], rbx
  EXPECT_EQ(s.rmw, Rmw::add);
  EXPECT_EQ(s.operand, 5u);
  s = derive({0x83, 0x28, 0xff}, r);  // sub dword [rax], -1
  EXPECT_EQ(s.rmw, Rmw::sub);
  EXPECT_EQ(apply_rmw(s.rmw, 0xffffffff, s.operand, 4), 0u);
  s = derive({0xfe, 0x00}, r);  // inc byte [rax]
  EXPECT_EQ(s.rmw, Rmw::add);
  EXPECT_EQ(apply_rmw(s.rmw, 0xff, s.operand, 1), 0u);
  s = derive({0x48, 0xf7, 0x18}, r);  // neg qword [rax]
  EXPECT_EQ(s.rmw, Rmw::neg);
  EXPECT_EQ(apply_rmw(s.rmw, 1, 0, 8), ~std::uint64_t{0});
  s = derive({0x80, 0x30, 0x0f}, r);  // xor byte [rax], 0xf
  EXPECT_EQ(s.rmw, Rmw::bit_xor);
  EXPECT_EQ(apply_rmw(s.rmw, 0xf0, s.operand, 1), 0xffu);
}

TEST(StoredValue, LoadsWriteNothingAndUnknownStoresSayNothing) {
  Registers r = after_regs();
  auto s = derive({0x48, 0x8b, 0x18}, r);  // mov rbx, [rax]
  EXPECT_TRUE(s.no_write);
  EXPECT_FALSE(s.new_known);
  s = derive({0x48, 0xab}, r);  // stosq: writes through a hidden operand
  EXPECT_FALSE(s.no_write);
  s = derive({0x48, 0x11, 0x18}, r);  // adc [rax], rbx: needs CF before, unknown
  EXPECT_FALSE(s.no_write);
  EXPECT_EQ(s.rmw, Rmw::none);
  EXPECT_FALSE(s.new_known);
}

}  // namespace
}  // namespace hwbp::decode
