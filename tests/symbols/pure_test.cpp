// The parts without a process: spec parsing, suggestions, demangling, decoding.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "symbols/demangle.hpp"
#include "symbols/instruction_decoder.hpp"
#include "symbols/suggest.hpp"
#include "symbols/symbol_error.hpp"
#include "symbols/symbol_spec.hpp"

namespace hwbp::symbols {
namespace {

TEST(SymbolSpec, NameOnly) {
  auto s = parse_symbol_spec("  counter ");
  EXPECT_EQ(s.name, "counter");
  EXPECT_EQ(s.offset, 0u);
}

TEST(SymbolSpec, DecimalAndHexOffsets) {
  EXPECT_EQ(parse_symbol_spec("table+16").offset, 16u);
  auto s = parse_symbol_spec("table + 0x10");
  EXPECT_EQ(s.name, "table");
  EXPECT_EQ(s.offset, 16u);
}

TEST(SymbolSpec, OperatorPlusStaysWhole) {
  EXPECT_EQ(parse_symbol_spec("operator+").name, "operator+");
}

TEST(SymbolSpec, Malformed) {
  EXPECT_THROW(parse_symbol_spec("table+12z"), SymbolError);
  EXPECT_THROW(parse_symbol_spec("+8"), SymbolError);
  EXPECT_THROW(parse_symbol_spec(""), SymbolError);
}

TEST(Suggest, EditDistance) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
}

TEST(Suggest, TyposAndSubstringsBestFirst) {
  SuggestionCollector c("counter");
  for (const char* n : {"countr", "unrelated_thing", "request_counter", "coutner", "x"}) c.offer(n);
  auto out = c.take();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "countr");  // distance 1
  EXPECT_EQ(out[1], "coutner"); // distance 2
  EXPECT_EQ(out[2], "request_counter");
}

TEST(Demangle, CxxAndC) {
  EXPECT_EQ(demangle("_ZN2ns7counterE"), "ns::counter");
  EXPECT_EQ(demangle("plain_c_name"), "plain_c_name");
  EXPECT_EQ(demangle("_Znot_really_mangled"), "_Znot_really_mangled");
}

// mov dword ptr [rip+0x2f0a], 0x2a ; nop ; ret
const std::vector<std::uint8_t> kCode = {0xc7, 0x05, 0x0a, 0x2f, 0x00, 0x00,
                                         0x2a, 0x00, 0x00, 0x00, 0x90, 0xc3};

TEST(Decoder, FormatsIntelWithRipRelativeOperand) {
  auto insn = decode_instruction(kCode, 0x1000);
  ASSERT_TRUE(insn);
  EXPECT_EQ(insn->length, 10);
  EXPECT_EQ(insn->text, "mov dword ptr [rip+0x2f0a], 0x2a");
  EXPECT_TRUE(insn->accesses_memory);
  ASSERT_TRUE(insn->memory_address);
  EXPECT_EQ(*insn->memory_address, 0x1000u + 10 + 0x2f0a);
}

TEST(Decoder, FindsTheInstructionEndingAtTheTrapIp) {
  auto insn = find_instruction_ending_at(kCode, 0x1000, 0x100a);
  ASSERT_TRUE(insn);
  EXPECT_EQ(insn->address, 0x1000u);
  auto nop = find_instruction_ending_at(kCode, 0x1000, 0x100b);
  ASSERT_TRUE(nop);
  EXPECT_EQ(nop->text, "nop");
  EXPECT_FALSE(nop->accesses_memory);
}

TEST(Decoder, RefusesToGuessInsideAnInstruction) {
  EXPECT_FALSE(find_instruction_ending_at(kCode, 0x1000, 0x1005));  // mid-mov
  EXPECT_FALSE(find_instruction_ending_at(kCode, 0x1000, 0x1000));  // no instruction before
  EXPECT_FALSE(find_instruction_ending_at(kCode, 0x1000, 0x2000));  // past the buffer
  const std::vector<std::uint8_t> junk = {0x0f, 0xff, 0xff, 0xff};  // not decodable
  EXPECT_FALSE(find_instruction_ending_at(junk, 0x1000, 0x1004));
}

TEST(Decoder, ImplicitStackAccessCountsAsMemory) {
  const std::vector<std::uint8_t> push = {0x50};  // push rax
  auto insn = decode_instruction(push, 0x1000);
  ASSERT_TRUE(insn);
  EXPECT_EQ(insn->text, "push rax");
  EXPECT_TRUE(insn->accesses_memory);
  EXPECT_FALSE(insn->memory_address);
  const std::vector<std::uint8_t> lea = {0x48, 0x8d, 0x05, 0x10, 0x00, 0x00, 0x00};
  auto l = decode_instruction(lea, 0x1000);  // lea rax, [rip+0x10]: computes, does not access
  ASSERT_TRUE(l);
  EXPECT_FALSE(l->accesses_memory);
}

}  // namespace
}  // namespace hwbp::symbols
