#include "symbols/inline_chain.hpp"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <cstdlib>

#include "symbols/demangle.hpp"

namespace hwbp::symbols {
namespace {

// The inlined instance has no name of its own: it lives on its abstract origin (and, for a C++
// member, on the declaration the origin's DW_AT_specification points to). dwarf_attr_integrate
// follows both. The linkage name, demangled, matches what the ELF symbol gives outer frames.
std::string inlined_name(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name}) {
    if (const char* s = dwarf_formstring(dwarf_attr_integrate(die, at, &attr))) return demangle(s);
  }
  const char* name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
  return name ? name : "";
}

int udata(Dwarf_Die* die, int at) {
  Dwarf_Attribute attr;
  Dwarf_Word v = 0;
  if (dwarf_formudata(dwarf_attr(die, at, &attr), &v) != 0) return 0;
  return static_cast<int>(v);
}

// DW_AT_call_file is an index into the CU's line-table file list (0 is valid in DWARF 5, so a
// missing attribute must not read as index 0).
std::string call_file(Dwarf_Die* cu, Dwarf_Die* die) {
  Dwarf_Attribute attr;
  Dwarf_Word idx = 0;
  if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &idx) != 0) return "";
  Dwarf_Files* files = nullptr;
  std::size_t nfiles = 0;
  if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0 || idx >= nfiles) return "";
  const char* name = dwarf_filesrc(files, idx, nullptr, nullptr);
  return name ? name : "";
}

}  // namespace

// dwarf_getscopes finds the innermost inlined instance, but above it lists the scopes of that
// function's abstract definition, not the functions it was inlined into. Those are the instance
// DIE's parents in the tree: dwarf_getscopes_die gives them (as eu-stack -i does).
std::vector<InlinedCall> inline_chain(Dwfl_Module* mod, std::uint64_t addr) {
  std::vector<InlinedCall> out;
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(mod, addr, &bias);
  if (!cu) return out;
  Dwarf_Die* scopes = nullptr;
  int n = dwarf_getscopes(cu, addr - bias, &scopes);  // innermost first
  int i = 0;
  while (i < n && dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine &&
         dwarf_tag(&scopes[i]) != DW_TAG_subprogram)
    ++i;  // lexical blocks
  Dwarf_Die* nest = nullptr;
  int m = i < n && dwarf_tag(&scopes[i]) == DW_TAG_inlined_subroutine
              ? dwarf_getscopes_die(&scopes[i], &nest) : 0;
  for (int k = 0; k < m; ++k) {
    int tag = dwarf_tag(&nest[k]);
    if (tag == DW_TAG_subprogram) break;  // the real function: the ELF symbol names it
    if (tag != DW_TAG_inlined_subroutine) continue;
    out.push_back({inlined_name(&nest[k]), call_file(cu, &nest[k]),
                   udata(&nest[k], DW_AT_call_line), udata(&nest[k], DW_AT_call_column)});
  }
  std::free(nest);
  std::free(scopes);
  return out;
}

}  // namespace hwbp::symbols
