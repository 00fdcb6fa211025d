// Symbols, lines and instructions of the test process itself (pid 0).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "symbols/instruction_finder.hpp"
#include "symbols/source_locator.hpp"
#include "symbols/symbol_error.hpp"
#include "symbols/symbol_table.hpp"
#include "symbols/unwinder.hpp"

// Variables the tests look up by name. extern "C" keeps the names plain for the asm store.
extern "C" {
volatile int hwbp_symtest_global = 1;
volatile int hwbp_symtest_store_target = 0;
volatile long hwbp_symtest_array[8];
}
static volatile int hwbp_symtest_static = 2;
namespace hwbp_symtest_ns {
volatile int namespaced = 3;
}
__attribute__((noinline)) volatile int* hwbp_symtest_local_holder() {
  static volatile int counter = 4;  // mangled _ZZ25hwbp_symtest_local_holdervE7counter
  return &counter;
}

namespace hwbp::symbols {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::uint64_t addr(const volatile void* p) { return reinterpret_cast<std::uint64_t>(p); }

// The data access whose trap the tests "receive": a known instruction, a known trap IP (label 1,
// right after it) and a known source line.
struct Store {
  std::uint64_t trap_ip;
  int line;
};
__attribute__((noinline)) Store store_42() {
  std::uint64_t after;
  asm volatile("movl $42, hwbp_symtest_store_target(%%rip)\n1:\n\tleaq 1b(%%rip), %0" : "=r"(after) : : "memory"); const int line = __LINE__;
  return {after, line};
}

class SelfSymbols : public ::testing::Test {
 protected:
  std::shared_ptr<ProcessImage> image = ProcessImage::open(0);
  SymbolTable table{image};
};

TEST_F(SelfSymbols, ResolvesAGlobal) {
  auto s = table.resolve("hwbp_symtest_global");
  EXPECT_EQ(s.address, addr(&hwbp_symtest_global));
  EXPECT_GE(s.size, sizeof(int));  // larger under ASan: the redzone is part of the symbol
  EXPECT_EQ(s.kind, SymbolKind::object);
  EXPECT_FALSE(s.is_local);
  EXPECT_TRUE(ends_with(s.module, "hwbp_symbols_tests"));
}

TEST_F(SelfSymbols, ResolvesAStatic) {
  auto s = table.resolve("hwbp_symtest_static");
  EXPECT_EQ(s.address, addr(&hwbp_symtest_static));
  EXPECT_TRUE(s.is_local);
}

TEST_F(SelfSymbols, ResolvesADemangledCxxName) {
  auto s = table.resolve("hwbp_symtest_ns::namespaced");
  EXPECT_EQ(s.address, addr(&hwbp_symtest_ns::namespaced));
  EXPECT_EQ(s.name, "_ZN15hwbp_symtest_ns10namespacedE");
}

TEST_F(SelfSymbols, ResolvesAFunctionLocalStatic) {
  auto s = table.resolve("hwbp_symtest_local_holder()::counter");
  EXPECT_EQ(s.address, reinterpret_cast<std::uint64_t>(hwbp_symtest_local_holder()));
}

TEST_F(SelfSymbols, NamePlusOffset) {
  auto s = table.resolve("hwbp_symtest_array+0x18");
  EXPECT_EQ(s.address, addr(&hwbp_symtest_array[3]));
  EXPECT_EQ(s.symbol_address, addr(&hwbp_symtest_array[0]));
  EXPECT_EQ(s.offset, 0x18u);
}

TEST_F(SelfSymbols, OffsetBeyondTheSymbolIsRejected) {
  try {
    table.resolve("hwbp_symtest_global+0x100000");
    FAIL() << "expected an error";
  } catch (const SymbolError& e) {
    EXPECT_EQ(e.symbol_code(), SymbolErrc::bad_spec);
  }
}

TEST_F(SelfSymbols, UnknownNameSuggestsCloseOnes) {
  try {
    table.resolve("hwbp_symtest_globl");
    FAIL() << "expected an error";
  } catch (const SymbolError& e) {
    EXPECT_EQ(e.symbol_code(), SymbolErrc::not_found);
    EXPECT_EQ(e.code(), hwbp::Errc::invalid_request);
    ASSERT_FALSE(e.suggestions().empty());
    EXPECT_EQ(e.suggestions().front(), "hwbp_symtest_global");
    EXPECT_NE(std::string(e.what()).find("did you mean: hwbp_symtest_global"), std::string::npos)
        << e.what();
  }
}

TEST_F(SelfSymbols, DlopenedLibraryAfterRefresh) {
  void* h = dlopen(HWBP_SYMFIX_LIB, RTLD_NOW);
  ASSERT_NE(h, nullptr) << dlerror();
  image->refresh();  // the library was mapped after the image was opened
  auto s = table.resolve("lib_only_var");
  EXPECT_EQ(s.address, addr(dlsym(h, "lib_only_var")));
  EXPECT_TRUE(ends_with(s.module, "libhwbp_symfix.so"));
  // A static of the library, from its .symtab.
  auto get_static = reinterpret_cast<int* (*)()>(dlsym(h, "lib_static_addr"));
  EXPECT_EQ(table.resolve("lib_static_var").address, addr(get_static()));
  auto where = table.module_of(s.address + 1);
  EXPECT_EQ(where.module, s.module);
  dlclose(h);
}

TEST_F(SelfSymbols, ModuleOfAnExecutableAddress) {
  auto where = table.module_of(addr(&hwbp_symtest_global));
  EXPECT_TRUE(ends_with(where.module, "hwbp_symbols_tests"));
  EXPECT_GT(where.offset, 0u);
  int on_stack = 0;
  EXPECT_TRUE(table.module_of(addr(&on_stack)).module.empty());
}

TEST_F(SelfSymbols, InstructionBeforeTheTrapIpAndItsLine) {
  Store st = store_42();
  ASSERT_EQ(hwbp_symtest_store_target, 42);
  InstructionFinder finder(image);
  auto found = finder.find_before(st.trap_ip);
  ASSERT_TRUE(found.known()) << found.unknown_reason;
  const auto& insn = *found.instruction;
  EXPECT_EQ(insn.address + insn.length, st.trap_ip);
  EXPECT_EQ(insn.length, 10);  // c7 05 disp32 imm32
  std::int64_t disp = static_cast<std::int64_t>(addr(&hwbp_symtest_store_target) - st.trap_ip);
  char expected[96];
  std::snprintf(expected, sizeof expected, "mov dword ptr [rip%c0x%llx], 0x2a", disp < 0 ? '-' : '+',
                static_cast<unsigned long long>(disp < 0 ? -disp : disp));
  EXPECT_EQ(insn.text, expected);
  ASSERT_TRUE(insn.memory_address);
  EXPECT_EQ(*insn.memory_address, addr(&hwbp_symtest_store_target));
  EXPECT_NE(found.function.find("store_42"), std::string::npos) << found.function;

  SourceLocator src(image);
  auto loc = src.locate(insn.address);
  ASSERT_TRUE(loc);
  EXPECT_TRUE(ends_with(loc->file, "self_test.cpp")) << loc->file;
  EXPECT_EQ(loc->line, st.line);
  EXPECT_NE(loc->function.find("store_42()"), std::string::npos) << loc->function;
}

TEST_F(SelfSymbols, TrapIpInsideAnInstructionIsUnknown) {
  Store st = store_42();
  InstructionFinder finder(image);
  auto found = finder.find_before(st.trap_ip - 3);  // inside the mov's immediate
  EXPECT_FALSE(found.known());
  EXPECT_EQ(found.text(), "unknown");
  EXPECT_FALSE(found.unknown_reason.empty());
}

TEST_F(SelfSymbols, AddressOutsideModulesIsUnknown) {
  int on_stack = 0;
  InstructionFinder finder(image);
  EXPECT_FALSE(finder.find_before(addr(&on_stack)).known());
  SourceLocator src(image);
  EXPECT_FALSE(src.locate(addr(&on_stack)));
}

__attribute__((noinline)) std::vector<Frame> unwind_here() {
  auto frames = backtrace_self();
  asm volatile("" ::: "memory");  // keep this a real call, not a tail call
  return frames;
}

TEST_F(SelfSymbols, BacktraceOfTheCallingThread) {
  auto frames = unwind_here();
  ASSERT_GE(frames.size(), 2u);
  SourceLocator src(image);
  auto first = src.locate(frames[0].lookup_address());
  ASSERT_TRUE(first);
  EXPECT_NE(first->function.find("unwind_here"), std::string::npos) << first->function;
  auto second = src.locate(frames[1].lookup_address());
  ASSERT_TRUE(second);
  EXPECT_NE(second->function.find("BacktraceOfTheCallingThread"), std::string::npos)
      << second->function;
  EXPECT_TRUE(ends_with(second->file, "self_test.cpp"));
}

TEST(SelfUnwind, LibdwflRefusesItsOwnProcess) {
  auto image = ProcessImage::open(0);
  EXPECT_THROW(backtrace_thread(*image, getpid(), false), SymbolError);
}

}  // namespace
}  // namespace hwbp::symbols
