// Function names as GDB prints them, on this process's own libc: glibc's .symtab names the code
// of _IO_new_file_overflow with the versioned alias "_IO_file_overflow@@GLIBC_2.2.5"; GDB (and
// hwbp) print the DWARF name. Needs Debian's libc6-dbg (scripts/install-deps.sh installs it).
#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <gtest/gtest.h>

#include <string>

#include "symbols/dwarf_lookup.hpp"
#include "symbols/function_name.hpp"
#include "symbols/process_image.hpp"

namespace hwbp::symbols {
namespace {

TEST(FunctionName, LibcFramesGetTheirDwarfNamesWithoutVersionSuffixes) {
  void* fn = ::dlsym(RTLD_DEFAULT, "_IO_file_overflow");
  ASSERT_NE(fn, nullptr) << ::dlerror();
  auto image = ProcessImage::open();
  const auto addr = reinterpret_cast<std::uint64_t>(fn);
  ModuleInfo libc = image->module_at(addr);
  ASSERT_NE(libc.handle, nullptr);
  auto name = function_at(libc.handle, addr + 4);
  ASSERT_TRUE(name);
  EXPECT_EQ(name->name.find('@'), std::string::npos) << name->name;
  if (!module_has_dwarf(libc.handle))
    GTEST_SKIP() << "no debug info for " << libc.path << " (install libc6-dbg): only the ELF "
                 << "name '" << name->name << "' is known";
  EXPECT_EQ(name->name, "_IO_new_file_overflow");
  EXPECT_TRUE(name->from_dwarf);
  EXPECT_EQ(name->offset, 4u);
  // What the symbol table alone says about the same code: the versioned alias.
  GElf_Off off = 0;
  GElf_Sym sym;
  const char* raw = dwfl_module_addrinfo(libc.handle, addr + 4, &off, &sym, nullptr, nullptr, nullptr);
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(display_symbol_name(raw), std::string(raw).substr(0, std::string(raw).find('@')));
}

}  // namespace
}  // namespace hwbp::symbols
