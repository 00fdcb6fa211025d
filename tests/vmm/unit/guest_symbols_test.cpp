// Symbols of a guest kernel: the ELF file at its link addresses (ProcessImage::open_file), with
// code read from the guest's memory and decoded as 32-bit code for a Multiboot kernel. What `hwbp
// vm` reports a hit with: the variable's address, the writing function, file:line, instruction.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "symbols/instruction_finder.hpp"
#include "symbols/process_image.hpp"
#include "symbols/source_locator.hpp"
#include "symbols/symbol_error.hpp"
#include "symbols/symbol_table.hpp"
#include "vmm/kernel_image.hpp"

namespace {

using namespace hwbp;

// The kernel's bytes laid out as the loader puts them in guest RAM (what the guest runs).
symbols::ProcessImage::MemoryReader guest_memory(const vmm::KernelImage& k) {
  return [k](std::uint64_t addr, std::size_t len) {
    for (const auto& s : k.segments)
      if (addr >= s.paddr && addr + len <= s.paddr + s.bytes.size())
        return std::vector<std::uint8_t>(s.bytes.begin() + static_cast<long>(addr - s.paddr),
                                         s.bytes.begin() + static_cast<long>(addr - s.paddr + len));
    throw symbols::SymbolError(symbols::SymbolErrc::unreadable, "not in the kernel image");
  };
}

int source_line(const char* marker) {
  std::ifstream in(HWBP_GUEST_KERNEL_SOURCE);
  int n = 0;
  for (std::string line; std::getline(in, line);)
    if (++n && line.find(marker) != std::string::npos) return n;
  return 0;
}

TEST(GuestSymbols, KernelVariablesFunctionsLinesAnd32BitInstructions) {
  const auto kernel = vmm::read_kernel(HWBP_GUEST_KERNEL);
  auto image = symbols::ProcessImage::open_file(HWBP_GUEST_KERNEL, guest_memory(kernel));
  EXPECT_EQ(image->pid(), -1);
  symbols::SymbolTable table(image);
  const auto max_retries = table.resolve("max_retries");
  const auto history = table.resolve("history");
  EXPECT_EQ(max_retries.size, 4u);
  EXPECT_EQ(history.size, 16u);
  EXPECT_EQ(max_retries.address, history.address + 16);  // the planted bug's layout
  EXPECT_THROW(table.resolve("no_such_variable"), symbols::SymbolError);

  // record_sample's store to history[slot]: find the instruction that ends at the byte after it.
  const auto fn = table.resolve("record_sample");
  symbols::InstructionFinder finder(image);
  symbols::SourceLocator locator(image);
  const int line = source_line("/* LINE-STRAY-WRITE */");
  ASSERT_GT(line, 0);
  bool found = false;
  for (std::uint64_t ip = fn.address + 1; ip < fn.address + fn.size && !found; ++ip) {
    const auto a = finder.find_before(ip);
    if (!a.known() || a.instruction->text.rfind("mov [", 0) != 0) continue;
    found = true;
    EXPECT_EQ(a.function, "record_sample");
    // 32-bit code: the store addresses history with a 32-bit base (no rip-relative form).
    char hex[32];
    std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(history.address));
    EXPECT_NE(a.instruction->text.find(hex), std::string::npos) << a.instruction->text;
    const auto loc = locator.locate(a.instruction->address);
    ASSERT_TRUE(loc);
    EXPECT_EQ(loc->function, "record_sample");
    EXPECT_EQ(loc->line, line);
    EXPECT_NE(loc->file.find("kernel.c"), std::string::npos);
  }
  EXPECT_TRUE(found) << "no 32-bit store decoded in record_sample";
}

TEST(GuestSymbols, NotAnElfIsASymbolError) {
  EXPECT_THROW(symbols::ProcessImage::open_file("/proc/self/status", {}), symbols::SymbolError);
}

}  // namespace
