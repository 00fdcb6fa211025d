// The inlined subroutines containing an address, from the DWARF scope tree. The ELF symbol table
// only knows the outer (real) function, while the line table already gives the inlined source
// line: without this, a hit reads "in outer at line-of-inner". perf, eu-stack -i and GDB show
// the inline chain as virtual frames; InlineChain gives what they need.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct Dwfl_Module;

namespace hwbp::symbols {

// One DW_TAG_inlined_subroutine: the inlined function and where it was inlined (its call site,
// a line of the function it was inlined into).
struct InlinedCall {
  std::string function;   // demangled linkage name when there is one, else DW_AT_name
  std::string call_file;  // empty when the compiler did not record the call site
  int call_line = 0;
  int call_column = 0;
};

// Innermost first; empty when addr is in no inlined subroutine or the module has no DWARF.
// calls[0].function is the function the addr's source line belongs to; calls[i]'s call site is a
// line of calls[i+1].function, and the last call site is a line of the outer (ELF symbol) function.
std::vector<InlinedCall> inline_chain(Dwfl_Module* mod, std::uint64_t addr);

}  // namespace hwbp::symbols
