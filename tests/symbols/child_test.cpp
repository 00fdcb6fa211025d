// Symbols, lines and instructions of another process: the fixture program built PIE and non-PIE,
// linked against libhwbp_symfix.so.
#include <gtest/gtest.h>

#include <string>

#include "child_process.hpp"
#include "symbols/instruction_finder.hpp"
#include "symbols/source_locator.hpp"
#include "symbols/symbol_error.hpp"
#include "symbols/symbol_table.hpp"
#include "symbols/unwinder.hpp"

namespace hwbp::symbols {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

class ChildSymbols : public ::testing::TestWithParam<const char*> {
 protected:
  test::ChildProcess child{GetParam()};
  std::shared_ptr<ProcessImage> image = ProcessImage::open(child.pid());
  SymbolTable table{image};
};

TEST_P(ChildSymbols, ResolvesGlobalAndStatic) {
  auto g = table.resolve("fixture_counter");
  EXPECT_EQ(g.address, child.address("counter"));
  EXPECT_EQ(g.size, sizeof(int));
  EXPECT_EQ(g.module, GetParam());
  EXPECT_EQ(table.resolve("fixture_static").address, child.address("static"));
  EXPECT_EQ(table.resolve("fixture_counter+2").address, child.address("counter") + 2);
}

// The executable's copy of a library variable is what the program writes; the library's own
// definition is dead after a copy relocation.
TEST_P(ChildSymbols, CopyRelocatedVariableResolvesToTheExecutablesCopy) {
  auto s = table.resolve("lib_counter");
  EXPECT_EQ(s.address, child.address("lib"));
  EXPECT_EQ(s.address, child.address("lib_in_lib"));  // the library's GOT agrees
  auto defs = table.definitions("lib_counter");
  ASSERT_FALSE(defs.empty());
  EXPECT_EQ(defs.front().address, s.address);
  if (std::string(GetParam()) == HWBP_SYMFIX_NOPIE) {
    // Non-PIC code cannot reach a library variable through the GOT: a copy relocation is certain.
    ASSERT_EQ(defs.size(), 2u);
    EXPECT_EQ(defs[0].module, GetParam());
    EXPECT_TRUE(ends_with(defs[1].module, "libhwbp_symfix.so"));
    EXPECT_NE(defs[1].address, s.address);
  }
}

TEST_P(ChildSymbols, UnknownNameSuggestsTheFixtureVariable) {
  try {
    table.resolve("fixture_countr");
    FAIL() << "expected an error";
  } catch (const SymbolError& e) {
    ASSERT_FALSE(e.suggestions().empty()) << e.what();
    EXPECT_EQ(e.suggestions().front(), "fixture_counter");
  }
}

TEST_P(ChildSymbols, ModuleOf) {
  auto where = table.module_of(child.address("counter"));
  EXPECT_EQ(where.module, GetParam());
  auto lib = table.module_of(table.resolve("lib_only_var").address);
  EXPECT_TRUE(ends_with(lib.module, "libhwbp_symfix.so"));
}

TEST_P(ChildSymbols, InstructionAndLineOfTheStore) {
  const std::uint64_t trap_ip = child.address("after_store");
  InstructionFinder finder(image);
  auto found = finder.find_before(trap_ip);
  ASSERT_TRUE(found.known()) << found.unknown_reason;
  EXPECT_EQ(found.function, "fixture_store");
  EXPECT_EQ(found.instruction->address + found.instruction->length, trap_ip);
  EXPECT_EQ(found.instruction->text.rfind("mov dword ptr [rip", 0), 0u) << found.text();
  EXPECT_TRUE(ends_with(found.instruction->text, "], 0x2a")) << found.text();
  EXPECT_EQ(found.instruction->memory_address, child.address("counter"));

  SourceLocator src(image);
  auto loc = src.locate(found.instruction->address);
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc->function, "fixture_store");
  EXPECT_TRUE(ends_with(loc->file, "fixture_main.c")) << loc->file;
  EXPECT_EQ(loc->line, child.number("line"));
}

TEST_P(ChildSymbols, BacktraceOfTheBlockedMainThread) {
  auto frames = backtrace_thread(*image, child.pid(), /*assume_ptrace_stopped=*/false);
  ASSERT_FALSE(frames.empty());
  SourceLocator src(image);
  bool saw_main = false;
  for (const auto& f : frames) {
    auto loc = src.locate(f.lookup_address());
    if (loc && loc->function == "main") saw_main = true;
  }
  EXPECT_TRUE(saw_main) << frames.size() << " frames, none in main";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ChildSymbols, ::testing::Values(HWBP_SYMFIX_PIE, HWBP_SYMFIX_NOPIE),
                         [](const auto& info) {
                           return std::string(info.param) == HWBP_SYMFIX_PIE ? "pie" : "nopie";
                         });

TEST(ChildSymbolsErrors, GoneProcess) {
  EXPECT_THROW(ProcessImage::open(0x3ffffff0), SymbolError);
}

}  // namespace
}  // namespace hwbp::symbols
