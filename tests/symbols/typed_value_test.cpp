// Typed values (typed_value.hpp): the formatting as GDB 13 prints values (expected strings taken
// from GDB's `watch` Old/New values on tests/cli/programs/typed_values.c), the members a hit wrote,
// and layouts built from the DWARF of a live fixture (fixture_types.c: bit-fields, anonymous
// members, arrays, pointers).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "child_process.hpp"
#include "symbols/location_evaluator.hpp"
#include "symbols/typed_value.hpp"

namespace hwbp::symbols {
namespace {

using Kind = ValueLayout::Kind;
using Bytes = std::vector<std::uint8_t>;

std::shared_ptr<ValueLayout> scalar(Kind kind, std::uint64_t size, std::string type, bool is_signed = false) {
  auto l = std::make_shared<ValueLayout>();
  l->kind = kind;
  l->size = size;
  l->type = std::move(type);
  l->is_signed = is_signed;
  return l;
}

template <typename T>
Bytes bytes_of(T v) {
  Bytes b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

TEST(TypedValue, IntegersBoolAndCharactersAsGdb) {
  EXPECT_EQ(format_value(*scalar(Kind::signed_int, 4, "int"), bytes_of<std::int32_t>(-4)), "-4");
  EXPECT_EQ(format_value(*scalar(Kind::unsigned_int, 4, "unsigned int"), bytes_of<std::uint32_t>(4294967295u)),
            "4294967295");
  EXPECT_EQ(format_value(*scalar(Kind::signed_int, 8, "long long"), bytes_of<std::int64_t>(-9000000000LL)),
            "-9000000000");
  EXPECT_EQ(format_value(*scalar(Kind::boolean, 1, "_Bool"), Bytes{1}), "true");
  EXPECT_EQ(format_value(*scalar(Kind::boolean, 1, "_Bool"), Bytes{0}), "false");
  EXPECT_EQ(format_value(*scalar(Kind::character, 1, "char", true), Bytes{'\n'}), "10 '\\n'");
  EXPECT_EQ(format_value(*scalar(Kind::character, 1, "char", true), Bytes{'Z'}), "90 'Z'");
  EXPECT_EQ(format_value(*scalar(Kind::character, 1, "unsigned char"), Bytes{200}), "200 '\\310'");
  EXPECT_EQ(format_value(*scalar(Kind::character, 1, "char", true), Bytes{200}), "-56 '\\310'");
  EXPECT_EQ(format_value(*scalar(Kind::character, 1, "char", true), Bytes{'\''}), "39 '\\''");
}

TEST(TypedValue, FloatingWithGdbsDigits) {
  EXPECT_EQ(format_value(*scalar(Kind::floating, 4, "float"), bytes_of(1.5f)), "1.5");
  EXPECT_EQ(format_value(*scalar(Kind::floating, 4, "float"), bytes_of(0.1f)), "0.100000001");
  EXPECT_EQ(format_value(*scalar(Kind::floating, 8, "double"), bytes_of(0.1)), "0.10000000000000001");
  EXPECT_EQ(format_value(*scalar(Kind::floating, 8, "double"), bytes_of(-1e300)), "-1.0000000000000001e+300");
  EXPECT_EQ(format_value(*scalar(Kind::floating, 8, "double"), bytes_of(__builtin_inf())), "inf");
}

TEST(TypedValue, EnumsByNameAndFlagEnumsAsTheirFlags) {
  auto color = scalar(Kind::enumeration, 4, "enum color");
  color->enumerators = {{0, "RED"}, {1, "GREEN"}, {2, "BLUE"}};
  EXPECT_EQ(format_value(*color, bytes_of<std::uint32_t>(2)), "BLUE");
  EXPECT_EQ(format_value(*color, bytes_of<std::uint32_t>(7)), "(GREEN | BLUE | unknown: 0x4)");
  auto perm = scalar(Kind::enumeration, 4, "enum perm");
  perm->enumerators = {{1, "P_READ"}, {2, "P_WRITE"}, {4, "P_EXEC"}};
  EXPECT_EQ(format_value(*perm, bytes_of<std::uint32_t>(3)), "(P_READ | P_WRITE)");
  EXPECT_EQ(format_value(*perm, bytes_of<std::uint32_t>(20)), "(P_EXEC | unknown: 0x10)");
  EXPECT_EQ(format_value(*perm, bytes_of<std::uint32_t>(0)), "0");
  auto overlapping = scalar(Kind::enumeration, 4, "enum level", true);
  overlapping->enumerators = {{1, "LOW"}, {3, "HIGH"}, {-1, "NONE"}};
  EXPECT_EQ(format_value(*overlapping, bytes_of<std::int32_t>(-1)), "NONE");
  EXPECT_EQ(format_value(*overlapping, bytes_of<std::int32_t>(2)), "2");  // not a flag enum
}

TEST(TypedValue, PointersAsHexWithWhatTheyPointTo) {
  auto p = scalar(Kind::pointer, 8, "int *");
  SymbolNamer namer = [](std::uint64_t a) { return a == 0x5000 ? std::string("<v_int>") : std::string(); };
  EXPECT_EQ(format_value(*p, bytes_of<std::uint64_t>(0), namer), "0x0");
  EXPECT_EQ(format_value(*p, bytes_of<std::uint64_t>(0x5000), namer), "0x5000 <v_int>");
  EXPECT_EQ(format_value(*p, bytes_of<std::uint64_t>(0x6000), namer), "0x6000");
}

std::shared_ptr<ValueLayout> array_of(std::shared_ptr<const ValueLayout> element, std::uint64_t count,
                                      std::string type) {
  auto a = std::make_shared<ValueLayout>();
  a->kind = Kind::array;
  a->element = std::move(element);
  a->count = count;
  a->size = a->element->size * count;
  a->type = std::move(type);
  return a;
}

TEST(TypedValue, StringsAndArraysWithGdbsRepeats) {
  auto text = array_of(scalar(Kind::character, 1, "char", true), 8, "char [8]");
  EXPECT_EQ(format_value(*text, Bytes{'h', 'i', 0, 0, 0, 0, 0, 0}), "\"hi\\000\\000\\000\\000\\000\"");
  // GDB: char a[16] = "start" prints its 10 NULs (after the terminator), char b[17] elides 11.
  Bytes a(16, 0), b(17, 0);
  std::memcpy(a.data(), "start", 5);
  std::memcpy(b.data(), "start", 5);
  EXPECT_EQ(format_value(*array_of(scalar(Kind::character, 1, "char", true), 16, "char [16]"), a),
            "\"start\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000\"");
  EXPECT_EQ(format_value(*array_of(scalar(Kind::character, 1, "char", true), 17, "char [17]"), b),
            "\"start\", '\\000' <repeats 11 times>");
  auto ints = array_of(scalar(Kind::signed_int, 4, "int", true), 6, "int [6]");
  Bytes six(24, 0);
  six[16] = 9;
  EXPECT_EQ(format_value(*ints, six), "{0, 0, 0, 0, 9, 0}");
  auto many = array_of(scalar(Kind::signed_int, 4, "int", true), 16, "int [16]");
  EXPECT_EQ(format_value(*many, Bytes(64, 0)), "{0 <repeats 16 times>}");
}

TEST(TypedValue, WithoutTheWholeTypeRawBytes) {
  EXPECT_EQ(format_value(*scalar(Kind::signed_int, 4, "int"), Bytes{1, 2}), "[01 02]");
  EXPECT_EQ(format_value(*scalar(Kind::raw, 3, "?"), Bytes{1, 2, 3}), "[01 02 03]");
}

std::shared_ptr<ValueLayout> config_layout() {
  auto c = std::make_shared<ValueLayout>();
  c->kind = Kind::aggregate;
  c->type = "struct config";
  c->size = 24;
  auto mode = scalar(Kind::unsigned_int, 1, "unsigned int");
  mode->bit_size = 3;
  auto level = scalar(Kind::unsigned_int, 1, "unsigned int");
  level->bit_size = 5;
  level->bit_shift = 3;
  c->fields = {{"retries", 0, scalar(Kind::signed_int, 4, "int", true)},
               {"timeout", 8, scalar(Kind::signed_int, 8, "long", true)},
               {"values", 16, array_of(scalar(Kind::signed_int, 2, "short", true), 3, "short [3]")},
               {"mode", 22, mode},
               {"level", 22, level}};
  return c;
}

TEST(WrittenMembers, TheMemberWhoseBytesChanged) {
  auto cfg = config_layout();
  Bytes before(24, 0), after(24, 0);
  before[0] = 3;
  after[0] = 4;
  std::size_t more = 9;
  auto m = written_members(*cfg, "cfg", before, after, std::nullopt, 8, &more);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].path, "cfg.retries");
  EXPECT_EQ(m[0].offset, 0u);
  EXPECT_EQ(format_value(*m[0].layout, std::span(after).subspan(m[0].offset)), "4");
  EXPECT_EQ(more, 0u);
  EXPECT_EQ(format_value(*cfg, after), "{retries = 4, timeout = 0, values = {0, 0, 0}, mode = 0, level = 0}");
}

TEST(WrittenMembers, ArrayElementsAndBitFieldsSharingAByte) {
  auto cfg = config_layout();
  Bytes before(24, 0), after(24, 0);
  after[18] = 5;            // values[1]
  after[22] = 9 << 3;       // level = 9, mode unchanged
  auto m = written_members(*cfg, "cfg", before, after, std::nullopt, 8, nullptr);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].path, "cfg.values[1]");
  EXPECT_EQ(m[1].path, "cfg.level");
  EXPECT_EQ(format_value(*m[1].layout, std::span(after).subspan(m[1].offset)), "9");
}

TEST(WrittenMembers, ASameValueStoreIsNamedFromTheStoreAndALimitCountsTheRest) {
  auto cfg = config_layout();
  Bytes same(24, 1);
  auto none = written_members(*cfg, "cfg", same, same, std::nullopt, 8, nullptr);
  EXPECT_TRUE(none.empty());
  auto stored = written_members(*cfg, "cfg", same, same, std::pair<std::uint64_t, std::uint64_t>{8, 1}, 8, nullptr);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].path, "cfg.timeout");
  Bytes other(24, 2);
  std::size_t more = 0;
  auto capped = written_members(*cfg, "cfg", same, other, std::nullopt, 2, &more);
  EXPECT_EQ(capped.size(), 2u);
  // retries, timeout, values[0..2] and mode: 6 in all (level's bits, 3-7 of 0x01 and of 0x02,
  // are 0 in both).
  EXPECT_EQ(more, 4u);
}

TEST(WrittenMembers, AScalarWatchIsItsOwnMember) {
  auto i = scalar(Kind::signed_int, 4, "int", true);
  auto m = written_members(*i, "counter", bytes_of(1), bytes_of(2), std::nullopt, 8, nullptr);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].path, "counter");
}

// Layouts from DWARF: the fixture's struct config (fixture_types.c) and its values in the child.
TEST(ValueLayoutFromDwarf, StructMembersBitFieldsAndPointers) {
  test::ChildProcess child(HWBP_SYMFIX_TYPES);
  auto image = ProcessImage::open(child.pid());
  SymbolTable table{image};
  ProcessMemory memory{child.pid()};
  LocationEvaluator evaluator{table, &memory};
  auto cfg = evaluator.evaluate("cfg");
  ASSERT_TRUE(cfg.layout);
  EXPECT_EQ(cfg.layout->kind, Kind::aggregate);
  EXPECT_EQ(cfg.layout->size, cfg.size);
  const Bytes bytes = memory.read(cfg.address, cfg.size);
  EXPECT_EQ(format_value(*cfg.layout, bytes),
            "{retries = 3, timeout = 100, name = \"demo\", '\\000' <repeats 11 times>, in = {a = 1, b = {0, 1, 2, 3}}, "
            "ax = 5, ay = 6, flags = 1, mode = 2}");
  auto head = evaluator.evaluate("&head");
  ASSERT_TRUE(head.layout);
  EXPECT_EQ(head.layout->kind, Kind::pointer);
  EXPECT_EQ(head.layout->type, "node_t *");
  auto grid = evaluator.evaluate("grid[2]");
  ASSERT_TRUE(grid.layout);
  EXPECT_EQ(grid.layout->type, "int [5]");
  EXPECT_EQ(grid.layout->count, 5u);
  auto cast = evaluator.evaluate("*(unsigned long *)&plain");
  ASSERT_TRUE(cast.layout);
  EXPECT_EQ(cast.layout->kind, Kind::unsigned_int);
  EXPECT_EQ(format_value(*cast.layout, memory.read(cast.address, 8)), "7");
}

}  // namespace
}  // namespace hwbp::symbols
