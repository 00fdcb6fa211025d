// FILE:LINE -> the address where execution of that line begins, as GDB's `break FILE:LINE`
// finds it: in every module with DWARF line tables, the statement rows of the line (or, where the
// line has no code, of the next line that has), the lowest address per function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "symbols/process_image.hpp"

namespace hwbp::symbols {

struct LineAddress {
  std::uint64_t address = 0;  // run-time address (the module's bias applied)
  std::string file;           // the source file as the line table names it
  int line = 0;               // the line found: `line`, or the next one with code
  std::string module;         // path of the module
};

// Every location of FILE:LINE, lowest address first. FILE is matched as libdwfl matches it
// (dwfl_module_getsrc_file: the whole path, or a base name without '/'). Throws SymbolError:
// not_found (no module has code for it: the message says which modules had no line tables).
std::vector<LineAddress> line_addresses(const ProcessImage& image, std::string_view file, int line);

}  // namespace hwbp::symbols
