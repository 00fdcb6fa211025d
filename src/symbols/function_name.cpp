#include "symbols/function_name.hpp"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <cstdlib>
#include <memory>

#include "symbols/demangle.hpp"

namespace hwbp::symbols {
namespace {

struct FreeDies {
  void operator()(Dwarf_Die* p) const { std::free(p); }
};
using DieArray = std::unique_ptr<Dwarf_Die[], FreeDies>;

// GNU as (-g) describes every function symbol of an assembler source with a DW_TAG_subprogram,
// so aliases (glibc: __sched_getscheduler, __GI_sched_getscheduler) are several DIEs over one
// range. GDB's block lookup ends on the last of them (gdb/block.c, find_block_in_blockvector:
// the last block starting at or before pc); libdw's dwarf_getscopes on the first.
void last_alias(Dwarf_Die* fn, Dwarf_Addr pc) {
  Dwarf_Die sib = *fn;
  while (dwarf_siblingof(&sib, &sib) == 0)
    if (dwarf_tag(&sib) == DW_TAG_subprogram && dwarf_haspc(&sib, pc) == 1) *fn = sib;
}

// The out-of-line function executing at addr: the innermost DW_TAG_subprogram, looked up through
// the physical nesting when addr is in inlined code (dwarf_getscopes lists an inlined
// instance's abstract scopes above it, not the function it was inlined into).
bool executing_subprogram(Dwarf_Die* cu, Dwarf_Addr pc, Dwarf_Die* out) {
  Dwarf_Die* raw = nullptr;
  int n = dwarf_getscopes(cu, pc, &raw);
  DieArray scopes(raw);
  int i = 0;
  while (i < n && dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine &&
         dwarf_tag(&scopes[i]) != DW_TAG_subprogram)
    ++i;
  if (i >= n) return false;
  if (dwarf_tag(&scopes[i]) == DW_TAG_subprogram) {
    *out = scopes[i];
    if (dwarf_srclang(cu) == DW_LANG_Mips_Assembler) last_alias(out, pc);
    return true;
  }
  Dwarf_Die* nest_raw = nullptr;
  int m = dwarf_getscopes_die(&scopes[i], &nest_raw);
  DieArray nest(nest_raw);
  for (int k = 0; k < m; ++k)
    if (dwarf_tag(&nest[k]) == DW_TAG_subprogram) {
      *out = nest[k];
      return true;
    }
  return false;
}

// A concrete instance carries its name on its abstract origin, a C++ member definition on its
// declaration (DW_AT_specification): dwarf_attr_integrate follows both. `linkage` says whether
// the name is a demangled linkage name (qualified, with parameters).
std::string subprogram_name(Dwarf_Die* die, bool& linkage) {
  Dwarf_Attribute attr;
  linkage = true;
  for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name})
    if (const char* s = dwarf_formstring(dwarf_attr_integrate(die, at, &attr))) return demangle(s);
  linkage = false;
  const char* name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
  return name ? name : "";
}

// The entry of the part of the function that holds pc: a cold part's offsets count from its own
// start, as its symbol (foo.cold) does.
Dwarf_Addr range_start(Dwarf_Die* die, Dwarf_Addr pc) {
  Dwarf_Addr base = 0, start = 0, end = 0;
  std::ptrdiff_t off = 0;
  while ((off = dwarf_ranges(die, off, &base, &start, &end)) > 0)
    if (pc >= start && pc < end) return start;
  Dwarf_Addr entry = pc;
  dwarf_entrypc(die, &entry);
  return entry;
}

std::optional<FunctionName> from_dwarf(Dwfl_Module* mod, std::uint64_t addr, bool& linkage) {
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(mod, addr, &bias);
  if (!cu) return std::nullopt;
  Dwarf_Die fn;
  if (!executing_subprogram(cu, addr - bias, &fn)) return std::nullopt;
  std::string name = subprogram_name(&fn, linkage);
  if (name.empty()) return std::nullopt;
  return FunctionName{std::move(name), addr - bias - range_start(&fn, addr - bias), true};
}

}  // namespace

std::string display_symbol_name(std::string_view raw) {
  auto at = raw.find('@');
  return demangle(at == std::string_view::npos ? raw : raw.substr(0, at));
}

std::optional<FunctionName> function_at(Dwfl_Module* mod, std::uint64_t addr) {
  GElf_Off offset = 0;
  GElf_Sym sym;
  const char* elf = dwfl_module_addrinfo(mod, addr, &offset, &sym, nullptr, nullptr, nullptr);
  bool linkage = false;
  auto dwarf = from_dwarf(mod, addr, linkage);
  // GCC gives C++ functions of internal linkage (static, anonymous namespace) no linkage name:
  // their DW_AT_name is unqualified ("TestBody"), while their mangled ELF symbol demangles to
  // the full name, as GDB prints it. C names (never mangled) come from DWARF.
  if (dwarf && (linkage || !elf || !is_mangled(elf))) return dwarf;
  if (!elf) return std::nullopt;
  return FunctionName{display_symbol_name(elf), offset, false};
}

}  // namespace hwbp::symbols
