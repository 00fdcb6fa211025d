// Location expressions without a process: parsing, canonical text, errors, C type words.
#include <gtest/gtest.h>

#include <string>

#include "symbols/function_name.hpp"
#include "symbols/location_expression.hpp"
#include "symbols/symbol_error.hpp"

namespace hwbp::symbols {
namespace {

using K = LocationExpr::Kind;

std::string canonical(const char* text) { return parse_location_expression(text)->text(); }

std::string error_of(const char* text) {
  try {
    parse_location_expression(text);
  } catch (const SymbolError& e) {
    EXPECT_EQ(e.symbol_code(), SymbolErrc::bad_spec) << e.what();
    return e.what();
  }
  return "no error";
}

TEST(LocationExpression, MembersIndexesAndArrowsNestLeftToRight) {
  auto e = parse_location_expression("cfg.a.b[3]");
  ASSERT_EQ(e->kind, K::index);
  EXPECT_EQ(e->value, 3u);
  ASSERT_EQ(e->operand->kind, K::member);
  EXPECT_EQ(e->operand->name, "b");
  EXPECT_EQ(e->operand->operand->name, "a");
  EXPECT_EQ(e->operand->operand->operand->kind, K::name);
  EXPECT_EQ(e->operand->operand->operand->name, "cfg");
  auto a = parse_location_expression("head->next->value");
  ASSERT_EQ(a->kind, K::arrow);
  EXPECT_EQ(a->name, "value");
  EXPECT_EQ(a->operand->kind, K::arrow);
}

TEST(LocationExpression, PrefixOperatorsBindLooserThanPostfix) {
  auto e = parse_location_expression("*p.q");  // *(p.q), as in C
  ASSERT_EQ(e->kind, K::deref);
  EXPECT_EQ(e->operand->kind, K::member);
  auto a = parse_location_expression("&arr[2]");
  ASSERT_EQ(a->kind, K::address_of);
  EXPECT_EQ(a->operand->kind, K::index);
}

TEST(LocationExpression, QualifiedNames) {
  auto e = parse_location_expression("ns::Widget::count");
  ASSERT_EQ(e->kind, K::name);
  EXPECT_EQ(e->name, "ns::Widget::count");
}

TEST(LocationExpression, CastsWithKeywordsTypeWordsAndPointers) {
  auto e = parse_location_expression("*(long *)0x7ffd1000");
  ASSERT_EQ(e->kind, K::deref);
  ASSERT_EQ(e->operand->kind, K::cast);
  EXPECT_EQ(e->operand->type.name, "long");
  EXPECT_EQ(e->operand->type.pointers, 1);
  EXPECT_EQ(e->operand->operand->kind, K::number);
  EXPECT_EQ(e->operand->operand->value, 0x7ffd1000u);
  auto s = parse_location_expression("(struct foo *)0x1000");
  EXPECT_EQ(s->type.keyword, "struct");
  EXPECT_EQ(s->type.name, "foo");
  EXPECT_EQ(s->type.text(), "struct foo *");
  auto w = parse_location_expression("(const long unsigned int **)4096");
  EXPECT_EQ(w->type.name, "unsigned long");
  EXPECT_EQ(w->type.pointers, 2);
  EXPECT_EQ(w->operand->value, 4096u);
}

// "(T)x" is a cast only when an operand follows, as in C: "(v).x" is a parenthesised variable.
TEST(LocationExpression, ParenthesisedNameIsACastOnlyBeforeAnOperand) {
  auto cast = parse_location_expression("(node_t *)head");
  EXPECT_EQ(cast->kind, K::cast);
  auto paren = parse_location_expression("(cfg).retries");
  ASSERT_EQ(paren->kind, K::member);
  EXPECT_EQ(paren->operand->kind, K::name);
  auto member_of_cast = parse_location_expression("((struct config *)0x10)->timeout");
  ASSERT_EQ(member_of_cast->kind, K::arrow);
  EXPECT_EQ(member_of_cast->operand->kind, K::cast);
}

TEST(LocationExpression, CanonicalTextKeepsTheMeaning) {
  EXPECT_EQ(canonical("cfg . in . b [ 3 ]"), "cfg.in.b[3]");
  EXPECT_EQ(canonical("*(long*)4096"), "*(long *)0x1000");
  EXPECT_EQ(canonical("(*p).x"), "(*p).x");
  EXPECT_EQ(canonical("((struct config *)0x10)->timeout"), "((struct config *)0x10)->timeout");
  EXPECT_EQ(canonical("&table[7]"), "&table[7]");
}

TEST(LocationExpression, ErrorsSayWhatIsWrongAndWhere) {
  EXPECT_NE(error_of("cfg.").find("expected a member name after '.'"), std::string::npos);
  EXPECT_NE(error_of("table[i]").find("constant index"), std::string::npos);
  EXPECT_NE(error_of("table[3").find("expected ']'"), std::string::npos);
  EXPECT_NE(error_of("(struct foo *)").find("needs an operand"), std::string::npos);
  EXPECT_NE(error_of("(struct foo *0x10").find("expected ')'"), std::string::npos);
  EXPECT_NE(error_of("cfg + 1").find("unexpected '+'"), std::string::npos);
  EXPECT_NE(error_of("0x12g").find("malformed number"), std::string::npos);
  EXPECT_NE(error_of("struct foo").find("starts a type"), std::string::npos);
  EXPECT_NE(error_of("cfg retries").find("unexpected 'retries'"), std::string::npos);
  EXPECT_NE(error_of("0x10000000000000000").find("64 bits"), std::string::npos);
  EXPECT_NE(error_of("  ").find("empty"), std::string::npos);
}

TEST(LocationExpression, TellsExpressionsFromPlainNames) {
  for (const char* e : {"a.b", "a[1]", "*p", "&v", "p->x", "(long *)0x10"})
    EXPECT_TRUE(is_location_expression(e)) << e;
  for (const char* n : {"counter", "ns::Widget::count", "table+16", "_ZN2ns5countE"})
    EXPECT_FALSE(is_location_expression(n)) << n;
}

TEST(LocationExpression, CTypeSizesOnLp64) {
  EXPECT_EQ(builtin_type_size("long"), 8u);
  EXPECT_EQ(builtin_type_size("unsigned char"), 1u);
  EXPECT_EQ(builtin_type_size("uint32_t"), 4u);
  EXPECT_EQ(builtin_type_size("struct foo"), 0u);
  EXPECT_TRUE(is_c_type_words("unsigned long"));
  EXPECT_EQ(canonical_c_type("long unsigned int"), "unsigned long");  // GCC's name, GDB's spelling
  EXPECT_EQ(canonical_c_type("long long int"), "long long");
  EXPECT_EQ(canonical_c_type("signed char"), "signed char");
  EXPECT_EQ(canonical_c_type("short unsigned int"), "unsigned short");
  EXPECT_EQ(canonical_c_type("_Bool"), "bool");
  EXPECT_EQ(canonical_c_type("__int128"), "__int128");
  EXPECT_FALSE(is_c_type_words("uint64_t"));
}

TEST(FunctionName, VersionSuffixesDroppedAndCxxDemangled) {
  EXPECT_EQ(display_symbol_name("_IO_file_overflow@@GLIBC_2.2.5"), "_IO_file_overflow");
  EXPECT_EQ(display_symbol_name("memcpy@GLIBC_2.2.5"), "memcpy");
  EXPECT_EQ(display_symbol_name("_ZN2ns4tickEi@@V1"), "ns::tick(int)");
  EXPECT_EQ(display_symbol_name("plain"), "plain");
}

}  // namespace
}  // namespace hwbp::symbols
