// The name of the function containing an address, as GDB prints it in a backtrace.
//
// GDB names a frame after the DWARF function (DW_TAG_subprogram) whose code holds the pc, and
// falls back to the ELF ("minimal") symbol only without DWARF. The two differ where it matters:
// glibc exports versioned aliases, so the symbol covering _IO_new_file_overflow's code reads
// "_IO_file_overflow@@GLIBC_2.2.5" in libc's .symtab (as written by `.symver`), while its DWARF
// name — the one in the source — is _IO_new_file_overflow (GDB: find_frame_funname, which
// prefers the block's function symbol over the minimal symbol). Cold parts of a function split
// off by GCC (foo.cold) belong to foo's DWARF ranges, so they are named foo too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct Dwfl_Module;

namespace hwbp::symbols {

struct FunctionName {
  std::string name;          // demangled C++ (with its parameter list), else the source name
  std::uint64_t offset = 0;  // addr - the function's entry
  bool from_dwarf = false;   // false: from the ELF symbol table (no DWARF covers addr)
};

// nullopt when neither DWARF nor a symbol covers addr.
std::optional<FunctionName> function_at(Dwfl_Module* mod, std::uint64_t addr);

// An ELF symbol name as a user reads it: the version suffix dropped ("memcpy@@GLIBC_2.14" ->
// "memcpy", "foo@VER" -> "foo"), then demangled. '@' cannot occur in a C or mangled C++ name.
std::string display_symbol_name(std::string_view raw);

}  // namespace hwbp::symbols
