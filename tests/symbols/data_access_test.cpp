// data_accesses() on hand-assembled instructions (bytes from GNU as): the address, size and
// direction of each explicit memory operand from the registers after the instruction, and a
// refusal wherever those registers no longer give the address.
#include <gtest/gtest.h>

#include "symbols/data_access.hpp"

namespace hwbp::symbols {
namespace {

enum Reg { rax, rdx, rcx, rbx, rsi, rdi, rbp, rsp };

DecodedInstruction at(std::vector<std::uint8_t> bytes, std::uint64_t address = 0x1000) {
  auto insn = decode_instruction(bytes, address);
  EXPECT_TRUE(insn) << "does not decode";
  return insn.value_or(DecodedInstruction{});
}

RegisterFile regs(std::initializer_list<std::pair<Reg, std::uint64_t>> values) {
  RegisterFile r;
  for (auto [reg, v] : values) r.gpr[reg] = v;
  return r;
}

TEST(DataAccess, RipRelativeStore) {
  // mov dword ptr [rip+0x2f0a], 0x2a
  auto a = data_accesses(at({0xc7, 0x05, 0x0a, 0x2f, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00}), {});
  ASSERT_TRUE(a);
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0].addr, 0x1000u + 10 + 0x2f0a);
  EXPECT_EQ((*a)[0].size, 4u);
  EXPECT_TRUE((*a)[0].write);
  EXPECT_FALSE((*a)[0].read);
}

TEST(DataAccess, BaseIndexScaleDisplacement) {
  // mov qword ptr [rbx+rcx*8+0x10], rax
  auto a = data_accesses(at({0x48, 0x89, 0x44, 0xcb, 0x10}), regs({{rbx, 0x5000}, {rcx, 3}}));
  ASSERT_TRUE(a);
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0].addr, 0x5000u + 3 * 8 + 0x10);
  EXPECT_EQ((*a)[0].size, 8u);
  EXPECT_TRUE((*a)[0].write);
}

TEST(DataAccess, ReadModifyWriteAndLoads) {
  auto rmw = data_accesses(at({0x83, 0x00, 0x01}), regs({{rax, 0x7000}}));  // add dword ptr [rax], 1
  ASSERT_TRUE(rmw);
  EXPECT_EQ((*rmw)[0].addr, 0x7000u);
  EXPECT_TRUE((*rmw)[0].read && (*rmw)[0].write);
  auto load = data_accesses(at({0x48, 0x8b, 0x50, 0x08}), regs({{rax, 0x7000}}));  // mov rdx, [rax+8]
  ASSERT_TRUE(load);
  EXPECT_EQ((*load)[0].addr, 0x7008u);
  EXPECT_TRUE((*load)[0].read);
  EXPECT_FALSE((*load)[0].write);
  auto vec = data_accesses(at({0xf3, 0x0f, 0x7f, 0x07}), regs({{rdi, 0x9000}}));  // movdqu [rdi], xmm0
  ASSERT_TRUE(vec);
  EXPECT_EQ((*vec)[0].size, 16u);
  // cmpxchg [rbx], rcx: rax is written (hidden), but the address does not use it.
  auto cas = data_accesses(at({0x48, 0x0f, 0xb1, 0x0b}), regs({{rbx, 0x6000}}));
  ASSERT_TRUE(cas);
  EXPECT_EQ((*cas)[0].addr, 0x6000u);
  // lea computes an address and accesses nothing.
  auto lea = data_accesses(at({0x48, 0x8d, 0x05, 0x10, 0x00, 0x00, 0x00}), {});
  ASSERT_TRUE(lea);
  EXPECT_TRUE(lea->empty());
}

TEST(DataAccess, RefusedWhereRegistersMovedOn) {
  EXPECT_FALSE(data_accesses(at({0x8b, 0x00}), regs({{rax, 0x7000}})));  // mov eax, [rax]
  EXPECT_FALSE(data_accesses(at({0x48, 0x0f, 0xb1, 0x08}), {}));        // cmpxchg [rax], rcx
  EXPECT_FALSE(data_accesses(at({0xf3, 0xaa}), {}));                     // rep stosb: rdi moved
  EXPECT_FALSE(data_accesses(at({0xff, 0x30}), {}));                     // push [rax]: rsp moved
  EXPECT_FALSE(data_accesses(DecodedInstruction{}, {}));                 // no bytes
}

TEST(DataAccess, SegmentBaseOnlyWhenKnown) {
  const std::vector<std::uint8_t> tls = {0x64, 0xc7, 0x04, 0x25, 0x10, 0x00,
                                         0x00, 0x00, 0x01, 0x00, 0x00, 0x00};  // mov dword ptr fs:[0x10], 1
  EXPECT_FALSE(data_accesses(at(tls), {}));
  RegisterFile r;
  r.fs_base = 0x7f0000001000;
  auto a = data_accesses(at(tls), r);
  ASSERT_TRUE(a);
  EXPECT_EQ((*a)[0].addr, 0x7f0000001010u);
  EXPECT_EQ((*a)[0].size, 4u);
}

}  // namespace
}  // namespace hwbp::symbols
