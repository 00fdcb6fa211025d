// The source line of an address as GDB chooses it. Compilers emit several line-table rows at one
// address (an inlined call's header line and its caller's line; is_stmt and non-is_stmt rows);
// libdw's dwarf_getsrc_die returns whichever row its binary search meets, GDB a definite one,
// after its own filtering of the line program (line_lookup.cpp says which). Measured against
// GDB 13 on libc, ls, xz and python3: tests/symbols/compare_with_gdb.sh.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

struct Dwfl_Module;

namespace hwbp::symbols {

struct SourceLine {
  std::string file;  // as the line table names it
  int line = 0;
  int column = 0;
};

// nullopt when no line-table row covers addr (no DWARF, or addr past a sequence's end).
std::optional<SourceLine> line_at(Dwfl_Module* mod, std::uint64_t addr);

}  // namespace hwbp::symbols
