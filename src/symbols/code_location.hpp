// Where `hwbp run|attach --at LOCATION` stops: a code address from what a GDB user gives `break`
// — a function name, `FILE:LINE`, or `0xADDR` — in a live process's modules.
//
// A function stops after its prologue, as GDB's `break FUNCTION` does (gdb/symtab.c,
// skip_prologue_using_sal: the address where the function's first line ends), so its
// parameters and locals are in their stack slots when the watches are evaluated there.
// `FILE:LINE` takes the lowest is_stmt address of that line (the next line that has code when
// it has none, as GDB moves a breakpoint), FILE matched by its last path components.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "symbols/symbol_table.hpp"

namespace hwbp::symbols {

struct CodeLocation {
  std::uint64_t address = 0;
  std::string description;  // "load_config at prog.c:12", for messages
};

// Throws SymbolError: not_found (no loaded module has it: a library may load it later),
// bad_spec (not a function, a line without code, a malformed spec).
CodeLocation resolve_code_location(const SymbolTable& table, std::string_view text);

}  // namespace hwbp::symbols
