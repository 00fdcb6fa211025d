// The register file GDB sees: target descriptions and the g/G/p/P encodings, without a VM.
#include <gtest/gtest.h>

#include "vmm/gdb_registers.hpp"

namespace hwbp::vmm::gdb {
namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(GdbRegisters, DescriptionsMatchTheRegisterFile) {
  for (Arch arch : {Arch::i386, Arch::x86_64}) {
    const std::string& xml = target_xml(arch);
    EXPECT_EQ(count(xml, "<reg "), register_count(arch));
    EXPECT_NE(xml.find("org.gnu.gdb.i386.core"), std::string::npos);
    EXPECT_NE(xml.find("org.gnu.gdb.i386.sse"), std::string::npos);
    unsigned bytes = 0;
    for (unsigned n = 0; n < register_count(arch); ++n) bytes += register_size(arch, n);
    EXPECT_EQ(encode_registers(arch, {}).size(), 2u * bytes);
  }
  EXPECT_NE(target_xml(Arch::i386).find("<architecture>i386</architecture>"), std::string::npos);
  EXPECT_NE(target_xml(Arch::x86_64).find("<architecture>i386:x86-64</architecture>"), std::string::npos);
  // GDB's i386 core: 8 GPRs, eip, eflags, 6 segments, 8 x87, 8 x87 control; sse: 8 xmm, mxcsr.
  EXPECT_EQ(register_count(Arch::i386), 16u + 16u + 9u);
  EXPECT_EQ(register_count(Arch::x86_64), 24u + 16u + 17u);
}

TEST(GdbRegisters, I386OrderAndLittleEndian) {
  RegisterFile f;
  f.regs.rax = 0x2badb002;
  f.regs.rbx = 0x105000;
  f.regs.rip = 0x10000c;
  f.regs.rflags = 0x2;
  f.sregs.cs.selector = 0x08;
  const std::string g = encode_registers(Arch::i386, f);
  EXPECT_EQ(g.substr(0, 8), "02b0ad2b");     // eax
  EXPECT_EQ(g.substr(24, 8), "00501000");    // ebx is the fourth (eax ecx edx ebx)
  EXPECT_EQ(g.substr(64, 8), "0c001000");    // eip
  EXPECT_EQ(g.substr(80, 8), "08000000");    // cs
  EXPECT_EQ(*encode_register(Arch::i386, f, 8), "0c001000");
  EXPECT_FALSE(encode_register(Arch::i386, f, register_count(Arch::i386)));
}

TEST(GdbRegisters, WritesRoundTripAndBadInputChangesNothing) {
  RegisterFile f;
  f.regs.rip = 0x100000;
  std::string g = encode_registers(Arch::x86_64, f);
  g.replace(16 * 16, 16, "2000100000000000");  // rip = 0x100020
  ASSERT_TRUE(decode_registers(Arch::x86_64, g, f));
  EXPECT_EQ(f.regs.rip, 0x100020u);
  ASSERT_TRUE(decode_register(Arch::x86_64, 0, "0100000000000000", f));
  EXPECT_EQ(f.regs.rax, 1u);
  const RegisterFile before = f;
  EXPECT_FALSE(decode_registers(Arch::x86_64, g + "0", f));
  EXPECT_FALSE(decode_register(Arch::x86_64, 0, "01", f));  // wrong width
  EXPECT_FALSE(decode_register(Arch::x86_64, 0, "zz00000000000000", f));
  EXPECT_EQ(f.regs.rip, before.regs.rip);
  EXPECT_EQ(f.regs.rax, before.regs.rax);
  // i386: writing eax keeps the upper half of rax (a 32-bit view of the register).
  f.regs.rax = 0x1122334455667788ull;
  ASSERT_TRUE(decode_register(Arch::i386, 0, "efbeadde", f));
  EXPECT_EQ(f.regs.rax, 0x11223344deadbeefull);
}

}  // namespace
}  // namespace hwbp::vmm::gdb
