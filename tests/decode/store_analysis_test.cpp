// Store analysis on hand-assembled bytes (encodings checked against GNU as): every instruction
// family of docs/page-engine.md, operand sizes, rip- and fs/gs-relative operands, rep with
// rcx = 0, DF = 1, batches, the displaced re-encoding and the refusals.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <vector>

#include "decode/store_analysis.hpp"
#include "decode/zydis_support.hpp"

namespace hwbp::decode {
namespace {

using Bytes = std::vector<std::uint8_t>;
constexpr std::uint64_t kRip = 0x400000;

struct FakeMemory {
  std::map<std::uint64_t, std::uint8_t> bytes;
  void put(std::uint64_t addr, std::uint64_t value, unsigned size) {
    for (unsigned i = 0; i < size; ++i) bytes[addr + i] = std::uint8_t(value >> (8 * i));
  }
  static bool read(void* ctx, std::uint64_t addr, void* out, std::size_t len) {
    auto* self = static_cast<FakeMemory*>(ctx);
    for (std::size_t i = 0; i < len; ++i) {
      auto it = self->bytes.find(addr + i);
      if (it == self->bytes.end()) return false;
      static_cast<std::uint8_t*>(out)[i] = it->second;
    }
    return true;
  }
  MemoryReader reader() { return MemoryReader{&FakeMemory::read, this}; }
};

Registers regs() {
  Registers r;
  for (int i = 0; i < 16; ++i) r.gpr[std::size_t(i)] = 0x1000 * std::uint64_t(i + 1);
  r.rip = kRip;
  r.rflags = 0x202;
  r.fs_base = 0x7f0000000000;
  r.gs_base = 0x7e0000000000;
  return r;
}

StoreAnalysis analyze(const Bytes& code, const Registers& r, FakeMemory* mem = nullptr,
                      const VectorState& v = {}, Options o = {}) {
  MemoryReader reader = mem ? mem->reader() : MemoryReader{};
  return analyze_store(code, r, v, reader, o);
}

std::uint64_t value_of(const StoreAnalysis& a) {
  std::uint64_t v = 0;
  std::memcpy(&v, a.emulation.bytes.data(), a.write.size < 8 ? a.write.size : 8);
  return v;
}

void expect_emulated(const StoreAnalysis& a, std::uint64_t addr, std::uint64_t size, std::uint64_t value) {
  ASSERT_EQ(a.resolution, Resolution::emulate) << a.reason;
  EXPECT_EQ(a.write.addr, addr);
  EXPECT_EQ(a.write.size, size);
  EXPECT_EQ(a.emulation.source, Source::bytes);
  EXPECT_EQ(value_of(a), value);
}

TEST(StoreAnalysis, MovRegisterAllOperandSizes) {
  Registers r = regs();
  r.gpr[rbx] = 0x1122334455667788;
  r.gpr[rcx] = 0xaabbccdd99887766;
  r.gpr[rdx] = 0x0000000000004321;
  auto a = analyze({0x48, 0x89, 0x58, 0x08}, r);  // mov [rax+8], rbx
  expect_emulated(a, r.gpr[rax] + 8, 8, 0x1122334455667788);
  EXPECT_EQ(a.length, 4);
  EXPECT_EQ(a.emulation.after.rip, kRip + 4);
  EXPECT_EQ(a.emulation.after.gpr, r.gpr);
  expect_emulated(analyze({0x89, 0x08}, r), r.gpr[rax], 4, 0x99887766);        // mov [rax], ecx
  expect_emulated(analyze({0x66, 0x89, 0x10}, r), r.gpr[rax], 2, 0x4321);      // mov [rax], dx
  expect_emulated(analyze({0x88, 0x18}, r), r.gpr[rax], 1, 0x88);              // mov [rax], bl
  expect_emulated(analyze({0x88, 0x20}, r), r.gpr[rax], 1, (r.gpr[rax] >> 8) & 0xff);  // mov [rax], ah
}

TEST(StoreAnalysis, MovImmediateRipRelativeAndSignExtended) {
  Registers r = regs();
  // mov dword [rip+0x100], 0x2a: rip-relative from the end of the 10-byte instruction
  expect_emulated(analyze({0xc7, 0x05, 0x00, 0x01, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00}, r), kRip + 10 + 0x100, 4, 0x2a);
  // mov qword [rax], -2: imm32 sign-extended to 64 bits
  expect_emulated(analyze({0x48, 0xc7, 0x00, 0xfe, 0xff, 0xff, 0xff}, r), r.gpr[rax], 8, 0xfffffffffffffffe);
}

TEST(StoreAnalysis, FsAndGsRelativeThreadLocals) {
  Registers r = regs();
  // mov fs:[0x10], rcx
  expect_emulated(analyze({0x64, 0x48, 0x89, 0x0c, 0x25, 0x10, 0x00, 0x00, 0x00}, r), r.fs_base + 0x10, 8, r.gpr[rcx]);
  // mov gs:[rax], rcx
  expect_emulated(analyze({0x65, 0x48, 0x89, 0x08}, r), r.gs_base + r.gpr[rax], 8, r.gpr[rcx]);
}

TEST(StoreAnalysis, Movnti) {
  Registers r = regs();
  expect_emulated(analyze({0x48, 0x0f, 0xc3, 0x37}, r), r.gpr[rdi], 8, r.gpr[rsi]);
}

// An XSAVE image with distinct bytes per register: xmm i byte j = 16*i + j, ymm upper = 0x80 | ...
struct XsaveImage {
  std::vector<std::uint8_t> bytes = std::vector<std::uint8_t>(576 + 256, 0);
  XsaveImage(std::uint64_t xstate_bv = 0x7) {
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j) {
        bytes[std::size_t(160 + 16 * i + j)] = std::uint8_t(16 * i + j);
        bytes[std::size_t(576 + 16 * i + j)] = std::uint8_t(0x80 | (16 * i + j));
      }
    std::memcpy(&bytes[512], &xstate_bv, 8);
  }
  VectorState state() const { return VectorState{bytes.data(), bytes.size()}; }
};

TEST(StoreAnalysis, SseAndAvxStoresTakeTheVectorRegister) {
  Registers r = regs();
  XsaveImage x;
  struct Case { Bytes code; unsigned reg, size; };
  const Case cases[] = {
      {{0x0f, 0x11, 0x0f}, 1, 16},              // movups [rdi], xmm1
      {{0x0f, 0x29, 0x17}, 2, 16},              // movaps [rdi], xmm2
      {{0xf3, 0x0f, 0x7f, 0x1f}, 3, 16},        // movdqu [rdi], xmm3
      {{0x66, 0x0f, 0xd6, 0x27}, 4, 8},         // movq [rdi], xmm4
      {{0x66, 0x0f, 0x7e, 0x2f}, 5, 4},         // movd [rdi], xmm5
      {{0xf2, 0x0f, 0x11, 0x37}, 6, 8},         // movsd [rdi], xmm6 (SSE, not the string one)
      {{0xf3, 0x0f, 0x11, 0x3f}, 7, 4},         // movss [rdi], xmm7
      {{0xc5, 0xfe, 0x7f, 0x0f}, 1, 32},        // vmovdqu [rdi], ymm1
      {{0xc5, 0x78, 0x11, 0x0f}, 9, 16},        // vmovups [rdi], xmm9
  };
  for (const Case& c : cases) {
    auto a = analyze(c.code, r, nullptr, x.state());
    ASSERT_EQ(a.resolution, Resolution::emulate) << a.reason;
    EXPECT_EQ(a.write.addr, r.gpr[rdi]);
    ASSERT_EQ(a.write.size, c.size);
    for (unsigned j = 0; j < c.size; ++j) {
      std::uint8_t want = j < 16 ? std::uint8_t(16 * c.reg + j) : std::uint8_t(0x80 | (16 * c.reg + j - 16));
      EXPECT_EQ(a.emulation.bytes[j], want) << "reg " << c.reg << " byte " << j;
    }
  }
}

TEST(StoreAnalysis, AvxUpperHalfInInitStateIsZero) {
  XsaveImage x(0x3);  // YMM_Hi128 not in use
  auto a = analyze({0xc5, 0xfe, 0x7f, 0x0f}, regs(), nullptr, x.state());
  ASSERT_EQ(a.resolution, Resolution::emulate);
  for (unsigned j = 16; j < 32; ++j) EXPECT_EQ(a.emulation.bytes[j], 0);
}

TEST(StoreAnalysis, VectorStoreWithoutVectorStateIsDisplaced) {
  auto a = analyze({0x0f, 0x11, 0x0f}, regs());
  EXPECT_EQ(a.resolution, Resolution::displace);
  EXPECT_EQ(a.write.size, 16u);
}

TEST(StoreAnalysis, StosAndRepStos) {
  Registers r = regs();
  r.gpr[rax] = 0x11223344aabbccdd;
  auto a = analyze({0xaa}, r);  // stosb
  ASSERT_EQ(a.resolution, Resolution::emulate);
  EXPECT_EQ(a.write.addr, r.gpr[rdi]);
  EXPECT_EQ(a.write.size, 1u);
  EXPECT_EQ(a.emulation.source, Source::fill);
  EXPECT_EQ(a.emulation.after.gpr[rdi], r.gpr[rdi] + 1);
  a = analyze({0x48, 0xab}, r);  // stosq
  EXPECT_EQ(a.write.size, 8u);
  EXPECT_EQ(a.emulation.after.gpr[rdi], r.gpr[rdi] + 8);
  r.gpr[rcx] = 10;
  a = analyze({0xf3, 0xab}, r);  // rep stosd
  EXPECT_EQ(a.write.addr, r.gpr[rdi]);
  EXPECT_EQ(a.write.size, 40u);
  EXPECT_EQ(a.emulation.after.gpr[rcx], 0u);
  EXPECT_EQ(a.emulation.after.gpr[rdi], r.gpr[rdi] + 40);
  EXPECT_EQ(a.emulation.after.rip, kRip + 2);
  std::uint8_t out[8];
  render_fill(a.emulation, 2, out, 8);  // the pattern keeps its phase: bytes 2..9 of dd cc bb aa ...
  const std::uint8_t want[8] = {0xbb, 0xaa, 0xdd, 0xcc, 0xbb, 0xaa, 0xdd, 0xcc};
  EXPECT_EQ(std::memcmp(out, want, 8), 0);
}

TEST(StoreAnalysis, RepWithZeroCountWritesNothingAndAdvances) {
  Registers r = regs();
  r.gpr[rcx] = 0;
  auto a = analyze({0xf3, 0xaa}, r);
  ASSERT_EQ(a.resolution, Resolution::emulate);
  EXPECT_EQ(a.write.size, 0u);
  EXPECT_EQ(a.emulation.after.rip, kRip + 2);
  EXPECT_EQ(a.emulation.after.gpr[rdi], r.gpr[rdi]);
}

TEST(StoreAnalysis, DirectionFlagWritesDownward) {
  Registers r = regs();
  r.rflags |= kFlagDF;
  r.gpr[rcx] = 4;
  auto a = analyze({0xf3, 0xab}, r);  // rep stosd, DF=1: rdi, rdi-4, rdi-8, rdi-12
  ASSERT_EQ(a.resolution, Resolution::emulate);
  EXPECT_EQ(a.write.addr, r.gpr[rdi] - 12);
  EXPECT_EQ(a.write.size, 16u);
  EXPECT_EQ(a.emulation.after.gpr[rdi], r.gpr[rdi] - 16);
  a = analyze({0xa4}, r);  // movsb, DF=1
  EXPECT_EQ(a.write.addr, r.gpr[rdi]);
  EXPECT_EQ(a.emulation.copy_from, r.gpr[rsi]);
  EXPECT_EQ(a.emulation.after.gpr[rdi], r.gpr[rdi] - 1);
  EXPECT_EQ(a.emulation.after.gpr[rsi], r.gpr[rsi] - 1);
}

TEST(StoreAnalysis, MovsAndRepMovs) {
  Registers r = regs();
  r.gpr[rcx] = 3;
  auto a = analyze({0xf3, 0x48, 0xa5}, r);  // rep movsq
  ASSERT_EQ(a.resolution, Resolution::emulate);
  EXPECT_EQ(a.emulation.source, Source::copy);
  EXPECT_EQ(a.write.addr, r.gpr[rdi]);
  EXPECT_EQ(a.write.size, 24u);
  EXPECT_EQ(a.emulation.copy_from, r.gpr[rsi]);
  EXPECT_EQ(a.emulation.after.gpr[rsi], r.gpr[rsi] + 24);
  EXPECT_EQ(a.emulation.after.gpr[rcx], 0u);
  a = analyze({0xa5}, r);  // movsd (string, 4 bytes)
  EXPECT_EQ(a.emulation.source, Source::copy);
  EXPECT_EQ(a.write.size, 4u);
}

TEST(StoreAnalysis, LongRepIsResolvedInBatchesLikeAnInterruptedRep) {
  Registers r = regs();
  r.gpr[rcx] = 10000;
  Options o;
  o.max_string_bytes = 4096;
  auto a = analyze({0xf3, 0xaa}, r, nullptr, {}, o);  // rep stosb
  EXPECT_EQ(a.write.size, 4096u);
  EXPECT_EQ(a.emulation.after.gpr[rcx], 10000u - 4096);
  EXPECT_EQ(a.emulation.after.gpr[rdi], r.gpr[rdi] + 4096);
  EXPECT_EQ(a.emulation.after.rip, kRip);  // resumes on the instruction
}

TEST(StoreAnalysis, OverlappingForwardCopyIsBatchedByTheDistance) {
  Registers r = regs();
  r.gpr[rsi] = 0x10000;
  r.gpr[rdi] = 0x10003;  // destination 3 bytes ahead: each element reads what an earlier one wrote
  r.gpr[rcx] = 100;
  auto a = analyze({0xf3, 0xa4}, r);
  EXPECT_EQ(a.write.size, 3u);
  EXPECT_EQ(a.emulation.after.gpr[rcx], 97u);
  r.gpr[rdi] = 0x10000 - 50;  // destination behind: a snapshot copy is exact, one batch
  a = analyze({0xf3, 0xa4}, r);
  EXPECT_EQ(a.write.size, 100u);
}

TEST(StoreAnalysis, PushPushfAndCall) {
  Registers r = regs();
  FakeMemory mem;
  r.gpr[rbx] = 0xdeadbeef;
  expect_emulated(analyze({0x53}, r), r.gpr[rsp] - 8, 8, 0xdeadbeef);  // push rbx
  EXPECT_EQ(analyze({0x53}, r).emulation.after.gpr[rsp], r.gpr[rsp] - 8);
  expect_emulated(analyze({0x68, 0x78, 0x56, 0x34, 0x12}, r), r.gpr[rsp] - 8, 8, 0x12345678);
  mem.put(r.gpr[rax], 0x5555666677778888, 8);
  expect_emulated(analyze({0xff, 0x30}, r, &mem), r.gpr[rsp] - 8, 8, 0x5555666677778888);  // push [rax]
  r.rflags = 0x10246 | kFlagRF;
  expect_emulated(analyze({0x9c}, r), r.gpr[rsp] - 8, 8, 0x246);  // pushfq: RF clear
  auto a = analyze({0xff, 0xd0}, r);  // call rax
  expect_emulated(a, r.gpr[rsp] - 8, 8, kRip + 2);
  EXPECT_EQ(a.emulation.after.rip, r.gpr[rax]);
  a = analyze({0xff, 0x10}, r, &mem);  // call [rax]
  EXPECT_EQ(a.emulation.after.rip, 0x5555666677778888u);
  a = analyze({0xe8, 0x10, 0x00, 0x00, 0x00}, r);  // call rel32
  expect_emulated(a, r.gpr[rsp] - 8, 8, kRip + 5);
  EXPECT_EQ(a.emulation.after.rip, kRip + 5 + 0x10);
}

TEST(StoreAnalysis, PopToMemoryUsesTheIncrementedStackPointer) {
  Registers r = regs();
  FakeMemory mem;
  mem.put(r.gpr[rsp], 0x0102030405060708, 8);
  auto a = analyze({0x8f, 0x07}, r, &mem);  // pop [rdi]
  expect_emulated(a, r.gpr[rdi], 8, 0x0102030405060708);
  EXPECT_EQ(a.emulation.after.gpr[rsp], r.gpr[rsp] + 8);
  a = analyze({0x8f, 0x04, 0x24}, r, &mem);  // pop [rsp]: address after the increment
  expect_emulated(a, r.gpr[rsp] + 8, 8, 0x0102030405060708);
}

TEST(StoreAnalysis, XchgSwapsWithTheRegister) {
  Registers r = regs();
  FakeMemory mem;
  mem.put(r.gpr[rdi], 0xfedcba9876543210, 8);
  auto a = analyze({0x48, 0x87, 0x07}, r, &mem);  // xchg [rdi], rax
  expect_emulated(a, r.gpr[rdi], 8, r.gpr[rax]);
  EXPECT_EQ(a.emulation.after.gpr[rax], 0xfedcba9876543210u);
  a = analyze({0x87, 0x0f}, r, &mem);  // xchg [rdi], ecx: 32-bit write zero-extends rcx
  expect_emulated(a, r.gpr[rdi], 4, r.gpr[rcx] & 0xffffffff);
  EXPECT_EQ(a.emulation.after.gpr[rcx], 0x76543210u);
  EXPECT_EQ(analyze({0x48, 0x87, 0x07}, r).resolution, Resolution::unsupported);  // memory unreadable
}

TEST(StoreAnalysis, Setcc) {
  Registers r = regs();
  r.rflags = kFlagZF;
  expect_emulated(analyze({0x0f, 0x94, 0x07}, r), r.gpr[rdi], 1, 1);  // sete
  expect_emulated(analyze({0x0f, 0x9c, 0x07}, r), r.gpr[rdi], 1, 0);  // setl: SF == OF
  r.rflags = kFlagSF;
  expect_emulated(analyze({0x0f, 0x9c, 0x07}, r), r.gpr[rdi], 1, 1);
}

TEST(StoreAnalysis, BitTestAndModify) {
  Registers r = regs();
  FakeMemory mem;
  mem.put(r.gpr[rdi], 0xf0, 8);
  auto a = analyze({0x48, 0x0f, 0xba, 0x2f, 0x03}, r, &mem);  // bts qword [rdi], 3
  expect_emulated(a, r.gpr[rdi], 8, 0xf8);
  EXPECT_EQ(a.emulation.after.rflags & kFlagCF, 0u);
  r.gpr[rcx] = 36;  // btr dword [rdi], ecx: bit 36 = dword at +4, bit 4
  mem.put(r.gpr[rdi] + 4, 0x10, 4);
  a = analyze({0x0f, 0xb3, 0x0f}, r, &mem);
  expect_emulated(a, r.gpr[rdi] + 4, 4, 0);
  EXPECT_NE(a.emulation.after.rflags & kFlagCF, 0u);
  r.gpr[rcx] = std::uint64_t(-1);  // btc qword [rdi], rcx with -1: bit 63 of the qword below
  mem.put(r.gpr[rdi] - 8, 0, 8);
  a = analyze({0x48, 0x0f, 0xbb, 0x0f}, r, &mem);
  expect_emulated(a, r.gpr[rdi] - 8, 8, 0x8000000000000000);
}

// The displaced instruction decodes to the same mnemonic with a rip-relative operand at the
// scratch data address (operand kept at the same offset modulo 64).
void expect_displaced(const Bytes& code, ZydisMnemonic mnemonic, std::uint64_t addr, unsigned size,
                      const Registers& r) {
  Options o;
  o.scratch_code = 0x7000000000;
  o.scratch_data = 0x7000001000;
  auto a = analyze(code, r, nullptr, {}, o);
  ASSERT_EQ(a.resolution, Resolution::displace) << a.reason;
  EXPECT_EQ(a.write.addr, addr);
  EXPECT_EQ(a.write.size, size);
  EXPECT_EQ(a.displacement.operand_size, size);
  EXPECT_EQ(a.displacement.data_addr, o.scratch_data + addr % 64);
  EXPECT_EQ(a.displacement.next_rip, kRip + code.size());
  Decoded d;
  ASSERT_TRUE(decode64({a.displacement.code.data(), a.displacement.code_length}, d));
  EXPECT_EQ(d.insn.mnemonic, mnemonic);
  EXPECT_EQ(d.insn.attributes & ZYDIS_ATTRIB_HAS_LOCK, 0u) << "lock is dropped? (kept if the original had it)";
  bool found = false;
  for (int i = 0; i < d.insn.operand_count_visible; ++i) {
    if (d.ops[i].type != ZYDIS_OPERAND_TYPE_MEMORY) continue;
    Registers at;
    at.rip = o.scratch_code;
    std::uint64_t got = 0;
    ASSERT_TRUE(operand_address(d, d.ops[i], at, got));
    EXPECT_EQ(got, a.displacement.data_addr);
    EXPECT_EQ(d.ops[i].mem.segment == ZYDIS_REGISTER_FS || d.ops[i].mem.segment == ZYDIS_REGISTER_GS, false);
    found = true;
  }
  EXPECT_TRUE(found);
}

TEST(StoreAnalysis, ReadModifyWriteIsDisplacedRipRelative) {
  Registers r = regs();
  expect_displaced({0x83, 0x07, 0x01}, ZYDIS_MNEMONIC_ADD, r.gpr[rdi], 4, r);
  expect_displaced({0xfe, 0x00 + 0x00}, ZYDIS_MNEMONIC_INC, r.gpr[rax], 1, r);
  expect_displaced({0x48, 0xf7, 0x5c, 0xcf, 0x10}, ZYDIS_MNEMONIC_NEG, r.gpr[rdi] + r.gpr[rcx] * 8 + 16, 8, r);
  expect_displaced({0x66, 0xc1, 0x27, 0x03}, ZYDIS_MNEMONIC_SHL, r.gpr[rdi], 2, r);
  expect_displaced({0x08, 0x07}, ZYDIS_MNEMONIC_OR, r.gpr[rdi], 1, r);
  expect_displaced({0xdd, 0x1f}, ZYDIS_MNEMONIC_FSTP, r.gpr[rdi], 8, r);
  expect_displaced({0x64, 0xfe, 0x00}, ZYDIS_MNEMONIC_INC, r.fs_base + r.gpr[rax], 1, r);  // segment dropped
}

TEST(StoreAnalysis, LockedInstructionsKeepTheirLock) {
  Registers r = regs();
  Options o;
  o.scratch_code = 0x7000000000;
  o.scratch_data = 0x7000001000;
  const Bytes codes[] = {
      {0xf0, 0x48, 0x01, 0x05, 0x00, 0x02, 0x00, 0x00},  // lock add [rip+0x200], rax
      {0xf0, 0x48, 0x0f, 0xc1, 0x07},                    // lock xadd [rdi], rax
      {0xf0, 0x48, 0x0f, 0xb1, 0x0f},                    // lock cmpxchg [rdi], rcx
      {0xf0, 0x48, 0x0f, 0xc7, 0x0f},                    // lock cmpxchg16b [rdi]
  };
  const std::uint64_t addrs[] = {kRip + 8 + 0x200, r.gpr[rdi], r.gpr[rdi], r.gpr[rdi]};
  const unsigned sizes[] = {8, 8, 8, 16};
  for (int i = 0; i < 4; ++i) {
    auto a = analyze(codes[i], r, nullptr, {}, o);
    ASSERT_EQ(a.resolution, Resolution::displace) << i << ": " << a.reason;
    EXPECT_EQ(a.write.addr, addrs[i]);
    EXPECT_EQ(a.write.size, sizes[i]);
    Decoded d;
    ASSERT_TRUE(decode64({a.displacement.code.data(), a.displacement.code_length}, d));
    EXPECT_NE(d.insn.attributes & ZYDIS_ATTRIB_HAS_LOCK, 0u) << i;
  }
}

TEST(StoreAnalysis, LoadsWriteNothing) {
  EXPECT_EQ(analyze({0x8b, 0x07}, regs()).resolution, Resolution::no_write);  // mov eax, [rdi]
  EXPECT_EQ(analyze({0x48, 0x8d, 0x07}, regs()).resolution, Resolution::no_write);  // lea
}

TEST(StoreAnalysis, RefusalsSayWhy) {
  auto a = analyze({0x67, 0x89, 0x07}, regs());  // mov [edi], eax
  EXPECT_EQ(a.resolution, Resolution::unsupported);
  EXPECT_STRNE(a.reason, "");
  a = analyze({0xc8, 0x10, 0x00, 0x00}, regs());  // enter
  EXPECT_EQ(a.resolution, Resolution::unsupported);
  a = analyze({0x62, 0xf2, 0x7d, 0x49, 0xa0, 0x14, 0x88}, regs());  // vpscatterdd
  EXPECT_EQ(a.resolution, Resolution::unsupported);
  EXPECT_NE(std::string(a.reason).find("scatter"), std::string::npos);
  a = analyze({0x0f, 0x0b}, regs());  // ud2 decodes, writes nothing
  EXPECT_EQ(a.resolution, Resolution::no_write);
  a = analyze({0xff}, regs());  // truncated
  EXPECT_EQ(a.resolution, Resolution::unsupported);
}

TEST(StoreAnalysis, EvexStoreIsDisplaced) {
  Options o;
  o.scratch_code = 0x7000000000;
  o.scratch_data = 0x7000001000;
  auto a = analyze({0x62, 0xf1, 0x7e, 0x48, 0x7f, 0x0f}, regs(), nullptr, {}, o);  // vmovdqu32 [rdi], zmm1
  ASSERT_EQ(a.resolution, Resolution::displace) << a.reason;
  EXPECT_EQ(a.write.size, 64u);
}

}  // namespace
}  // namespace hwbp::decode
