// Location expressions resolved in live fixture programs built with -g (fixture_types.c, C, and
// fixture_types_cxx.cpp, C++), and without -g: every address is checked against the one the
// program itself printed (&cfg.timeout, &grid[2][3], ...), every length against the type.
#include <gtest/gtest.h>

#include <string>

#include "child_process.hpp"
#include "symbols/function_name.hpp"
#include "symbols/location_evaluator.hpp"
#include "symbols/source_locator.hpp"
#include "symbols/symbol_error.hpp"

namespace hwbp::symbols {
namespace {

class TypedChild : public ::testing::Test {
 protected:
  explicit TypedChild(const char* program = HWBP_SYMFIX_TYPES) : child(program) {}
  ResolvedLocation eval(const char* text) { return evaluator.evaluate(text); }
  std::string error_of(const char* text, SymbolErrc code = SymbolErrc::bad_spec) {
    try {
      evaluator.evaluate(text);
    } catch (const SymbolError& e) {
      EXPECT_EQ(e.symbol_code(), code) << e.what();
      return e.what();
    }
    return "no error";
  }

  test::ChildProcess child;
  std::shared_ptr<ProcessImage> image = ProcessImage::open(child.pid());
  SymbolTable table{image};
  ProcessMemory memory{child.pid()};
  LocationEvaluator evaluator{table, &memory};
};

TEST_F(TypedChild, MembersAndArrayElementsWithTheirTypesAndSizes) {
  auto cfg = eval("cfg");
  EXPECT_EQ(cfg.address, child.address("cfg"));
  EXPECT_EQ(cfg.type, "struct config");
  EXPECT_EQ(cfg.size, 64u);
  auto t = eval("cfg.timeout");
  EXPECT_EQ(t.address, child.address("timeout"));
  EXPECT_EQ(t.type, "long");
  EXPECT_EQ(t.size, 8u);
  auto b = eval("cfg.in.b[3]");
  EXPECT_EQ(b.address, child.address("b3"));
  EXPECT_EQ(b.size, 4u);
  EXPECT_EQ(b.type, "int");
  auto name = eval("cfg.name");
  EXPECT_EQ(name.address, child.address("name"));
  EXPECT_EQ(name.type, "char [16]");
  EXPECT_EQ(name.size, 16u);
  EXPECT_EQ(eval("table[7]").address, child.address("table7"));
  EXPECT_FALSE(eval("table[7]").read_target);
}

TEST_F(TypedChild, TwoDimensionalArraysIndexRowThenColumn) {
  auto row = eval("grid[2]");
  EXPECT_EQ(row.address, child.address("grid2"));
  EXPECT_EQ(row.type, "int [5]");
  EXPECT_EQ(row.size, 20u);
  auto cell = eval("grid[2][3]");
  EXPECT_EQ(cell.address, child.address("grid23"));
  EXPECT_EQ(cell.size, 4u);
}

TEST_F(TypedChild, AnonymousMembersAndBitFields) {
  EXPECT_EQ(eval("cfg.ay").address, child.address("ay"));
  auto mode = eval("cfg.mode");  // a bit-field: the byte holding its 5 bits
  EXPECT_EQ(mode.address, child.address("mode"));
  EXPECT_EQ(mode.size, 1u);
}

TEST_F(TypedChild, PointersAreReadInTheTarget) {
  auto via = eval("cfg_ptr->timeout");
  EXPECT_EQ(via.address, child.address("timeout"));
  EXPECT_TRUE(via.read_target);
  auto deref = eval("*cfg_ptr");
  EXPECT_EQ(deref.address, child.address("cfg"));
  EXPECT_EQ(deref.size, 64u);
  auto chain = eval("head->next->value");
  EXPECT_EQ(chain.address, child.address("second_value"));
  EXPECT_EQ(chain.type, "int");
  auto via_index = eval("cfg_ptr[0].retries");
  EXPECT_EQ(via_index.address, child.address("cfg"));
}

// A pointer value in the place of a location stands for what it points to (GDB's watch -l).
TEST_F(TypedChild, AddressesAndCastsNameTheObjectPointedTo) {
  auto addr = eval("&cfg.timeout");
  EXPECT_EQ(addr.address, child.address("timeout"));
  EXPECT_EQ(addr.size, 8u);
  const std::string cfg_hex = child.report().at("cfg");
  auto cast = evaluator.evaluate("(struct config *)" + cfg_hex);
  EXPECT_EQ(cast.address, child.address("cfg"));
  EXPECT_EQ(cast.size, 64u);
  auto member = evaluator.evaluate("((struct config *)" + cfg_hex + ")->timeout");
  EXPECT_EQ(member.address, child.address("timeout"));
  auto typedef_cast = eval("((node_t *)head)->next");  // head holds &first: the cast reads it
  EXPECT_EQ(typedef_cast.size, 8u);
  auto as_long = evaluator.evaluate("*(long *)" + child.report().at("plain"));
  EXPECT_EQ(as_long.address, child.address("plain"));
  EXPECT_EQ(as_long.size, 8u);
  EXPECT_EQ(as_long.type, "long");
}

TEST_F(TypedChild, BadMemberNamesTheTypeAndItsMembers) {
  EXPECT_NE(error_of("cfg.retry").find(
                "struct config has no member 'retry'; members: retries, timeout, name, in, ax, ay, "
                "flags, mode"),
            std::string::npos)
      << error_of("cfg.retry");
  EXPECT_NE(error_of("cfg_ptr.retries").find("write cfg_ptr->retries"), std::string::npos);
  EXPECT_NE(error_of("cfg->retries").find("not a pointer"), std::string::npos);
  EXPECT_NE(error_of("plain.x").find("is long, not a struct"), std::string::npos);
}

TEST_F(TypedChild, BadIndexesNullPointersAndValues) {
  EXPECT_NE(error_of("table[8]").find("index 8 is out of bounds for 'table' (int [8]): valid indexes "
                                      "are 0 to 7"),
            std::string::npos);
  EXPECT_NE(error_of("grid[1][5]").find("0 to 4"), std::string::npos);
  EXPECT_NE(error_of("null_ptr->retries").find("null pointer"), std::string::npos);
  EXPECT_NE(error_of("*0x1000").find("plain number"), std::string::npos);
  EXPECT_NE(error_of("(long)0x1000").find("pointer types"), std::string::npos);
  EXPECT_NE(error_of("(struct nosuch *)0x1000").find("no type 'struct nosuch'"), std::string::npos);
  auto v = eval("opaque");  // void *: a location of its own (8 bytes)
  EXPECT_EQ(v.size, 8u);
  EXPECT_EQ(eval("*(char *)opaque").address, child.address("plain"));
}

TEST_F(TypedChild, UnknownRootIsNotFoundSoALibraryMayDefineItLater) {
  error_of("nosuch.field", SymbolErrc::not_found);
}

// Without a process (plan --program): locations work, pointers cannot be followed.
TEST(OfflineImage, ResolvesFileAddressesAndRefusesPointers) {
  auto file = ProcessImage::open_file(HWBP_SYMFIX_TYPES);
  SymbolTable table(file);
  LocationEvaluator offline(table, nullptr);
  auto t = offline.evaluate("cfg.timeout");
  auto c = offline.evaluate("cfg");
  EXPECT_EQ(t.address, c.address + 8);
  EXPECT_EQ(t.size, 8u);
  try {
    offline.evaluate("cfg_ptr->timeout");
    FAIL() << "expected an error";
  } catch (const SymbolError& e) {
    EXPECT_EQ(e.symbol_code(), SymbolErrc::needs_memory);
    EXPECT_NE(std::string(e.what()).find("running program"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ProcessImage::open_file("/nonexistent/program"), SymbolError);
}

class UntypedChild : public TypedChild {
 protected:
  UntypedChild() : TypedChild(HWBP_SYMFIX_TYPES_NODEBUG) {}
};

// Without DWARF, names still resolve through the ELF symbol table (with the symbol's size); what
// needs types says that types need debug info.
TEST_F(UntypedChild, SymbolsWorkAndTypesNeedDebugInfo) {
  auto cfg = eval("cfg");
  EXPECT_EQ(cfg.address, child.address("cfg"));
  EXPECT_EQ(cfg.size, 64u);
  EXPECT_EQ(cfg.type, "");
  EXPECT_EQ(eval("&plain").address, child.address("plain"));
  const std::string msg = error_of("cfg.timeout", SymbolErrc::unsupported);
  EXPECT_NE(msg.find("types need debug info"), std::string::npos) << msg;
  auto as_long = evaluator.evaluate("*(long *)" + child.report().at("plain"));  // C types: no DWARF
  EXPECT_EQ(as_long.size, 8u);
}

class CxxChild : public TypedChild {
 protected:
  CxxChild() : TypedChild(HWBP_SYMFIX_TYPES_CXX) {}
};

TEST_F(CxxChild, StaticMembersObjectsAndDemangledFunctionNames) {
  auto count = eval("ns::Widget::count");
  EXPECT_EQ(count.address, child.address("count"));
  EXPECT_EQ(count.type, "long");
  EXPECT_EQ(count.size, 8u);
  auto w = eval("widget");
  EXPECT_EQ(w.type, "ns::Widget");
  EXPECT_EQ(eval("widget.level").address, child.address("level"));
  SourceLocator locator(image);
  auto loc = locator.locate(child.address("tick"));
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc->function, "ns::tick(int)");
}

}  // namespace
}  // namespace hwbp::symbols
