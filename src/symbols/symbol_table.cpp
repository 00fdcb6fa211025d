#include "symbols/symbol_table.hpp"

#include <elfutils/libdwfl.h>
#include <gelf.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "symbols/demangle.hpp"
#include "symbols/suggest.hpp"
#include "symbols/symbol_error.hpp"
#include "symbols/symbol_spec.hpp"

namespace hwbp::symbols {
namespace {

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// A symbol worth resolving: defined here (not an import), not a section/file marker.
bool is_definition(const GElf_Sym& sym, GElf_Word shndx) {
  if (shndx == SHN_UNDEF || static_cast<int>(shndx) == -1) return false;  // -1: non-alloc section
  int type = GELF_ST_TYPE(sym.st_info);
  return type != STT_SECTION && type != STT_FILE;
}

SymbolKind kind_of(const GElf_Sym& sym) {
  switch (GELF_ST_TYPE(sym.st_info)) {
    case STT_OBJECT:
    case STT_COMMON: return SymbolKind::object;
    case STT_FUNC:
    case STT_GNU_IFUNC: return SymbolKind::function;
    default: return SymbolKind::other;
  }
}

// Calls fn(name, sym, addr) for every definition in the module's symbol table.
template <typename Fn>
void for_each_symbol(Dwfl_Module* mod, Fn&& fn) {
  int n = dwfl_module_getsymtab(mod);
  for (int i = 1; i < n; ++i) {  // index 0 is the null symbol
    GElf_Sym sym;
    GElf_Addr addr = 0;
    GElf_Word shndx = 0;
    const char* name = dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx, nullptr, nullptr);
    if (name && *name && is_definition(sym, shndx)) fn(name, sym, addr);
  }
}

// The identifier a mangled name must contain to demangle to `wanted`: "ns::counter" ->
// "counter", "f()::x" -> "x". A cheap filter that spares demangling most symbols.
std::string_view last_identifier(std::string_view wanted) {
  auto colons = wanted.rfind("::");
  std::string_view tail = colons == std::string_view::npos ? wanted : wanted.substr(colons + 2);
  std::size_t n = 0;
  while (n < tail.size() && (std::isalnum(static_cast<unsigned char>(tail[n])) || tail[n] == '_'))
    ++n;
  return tail.substr(0, n);
}

// Raw names match exactly. Demangled matching covers C++ spellings ("ns::counter",
// "f()::local") and also plain names of C++ statics, which GCC mangles ("_ZL7counter").
bool name_matches(const char* symbol_name, std::string_view wanted, bool by_demangled) {
  if (!by_demangled) return symbol_name == wanted;
  if (!is_mangled(symbol_name)) return false;
  std::string_view raw(symbol_name);
  std::string_view id = last_identifier(wanted);
  if (!id.empty() && raw.find(id) == std::string_view::npos) return false;
  return demangle(raw) == wanted;
}

struct Candidate {
  ResolvedSymbol sym;
  bool main_executable;
  bool tls;
  std::size_t module_order;
};

// Executable first (copy relocations), then global over local, then map order.
bool better(const Candidate& a, const Candidate& b) {
  if (a.main_executable != b.main_executable) return a.main_executable;
  if (a.sym.is_local != b.sym.is_local) return !a.sym.is_local;
  return a.module_order < b.module_order;
}

std::vector<Candidate> collect(const ProcessImage& image, std::string_view name,
                               bool demangled) {
  std::vector<Candidate> out;
  std::size_t order = 0;
  image.for_each_module([&](const ModuleInfo& m) {
    for_each_symbol(m.handle, [&](const char* sname, const GElf_Sym& sym, GElf_Addr addr) {
      if (!name_matches(sname, name, demangled)) return;
      Candidate c;
      c.sym.name = sname;
      c.sym.address = c.sym.symbol_address = addr;
      c.sym.size = sym.st_size;
      c.sym.module = m.path;
      c.sym.kind = kind_of(sym);
      c.sym.is_local = GELF_ST_BIND(sym.st_info) == STB_LOCAL;
      c.main_executable = m.is_main_executable;
      c.tls = GELF_ST_TYPE(sym.st_info) == STT_TLS;
      c.module_order = order;
      // .symtab and .dynsym may both list a symbol: keep one entry per module and address.
      for (const auto& prev : out)
        if (prev.sym.module == c.sym.module && prev.sym.address == c.sym.address) return;
      out.push_back(std::move(c));
    });
    ++order;
    return true;
  });
  std::stable_sort(out.begin(), out.end(), better);
  return out;
}

// Exact raw names first; the demangling pass (slower) only when that finds nothing.
std::vector<Candidate> collect(const ProcessImage& image, std::string_view name) {
  auto out = collect(image, name, false);
  return out.empty() ? collect(image, name, true) : out;
}

// Several static variables of the same name (different translation units or libraries) and no
// global one: any choice would be a guess.
void check_ambiguity(const std::vector<Candidate>& c, std::string_view name) {
  if (c.size() < 2 || !c[0].sym.is_local || !c[1].sym.is_local) return;
  if (c[0].main_executable != c[1].main_executable) return;
  std::string msg = "'" + std::string(name) + "' is ambiguous: several static definitions:";
  for (const auto& x : c) msg += "\n  " + hex(x.sym.address) + " in " + x.sym.module;
  msg += "\nwatch one of these addresses directly";
  throw SymbolError(SymbolErrc::ambiguous, msg);
}

void apply_offset(ResolvedSymbol& sym, std::uint64_t offset, std::string_view spec) {
  // A zero-size symbol (asm label) gives no bound to check against.
  if (sym.size != 0 && offset >= sym.size)
    throw SymbolError(SymbolErrc::bad_spec, "offset " + hex(offset) + " in '" + std::string(spec) +
                                                "' is beyond the end of " + sym.name + " (size " +
                                                std::to_string(sym.size) + ")");
  sym.offset = offset;
  sym.address = sym.symbol_address + offset;
}

}  // namespace

SymbolTable::SymbolTable(std::shared_ptr<ProcessImage> image) : image_(std::move(image)) {}

std::vector<ResolvedSymbol> SymbolTable::definitions(std::string_view name) const {
  std::vector<ResolvedSymbol> out;
  for (auto& c : collect(*image_, name)) out.push_back(std::move(c.sym));
  return out;
}

ResolvedSymbol SymbolTable::resolve(std::string_view spec_text) const {
  SymbolSpec spec = parse_symbol_spec(spec_text);
  auto candidates = collect(*image_, spec.name);
  if (candidates.empty()) {
    auto close = suggest(spec.name);
    std::string msg = "no symbol '" + spec.name + "' in " + image_->description();
    if (!close.empty()) {
      msg += "; did you mean:";
      for (const auto& s : close) msg += " " + s;
    } else {
      msg += image_->pid() < 0 ? " (is the file stripped?)" : " (is the binary stripped, or the library not loaded yet?)";
    }
    throw SymbolError(SymbolErrc::not_found, msg, std::move(close));
  }
  if (candidates.front().tls)
    throw SymbolError(SymbolErrc::unsupported,
                      "'" + spec.name + "' is thread-local: its address differs per thread; "
                      "take &var in the thread you want to watch");
  check_ambiguity(candidates, spec.name);
  ResolvedSymbol best = std::move(candidates.front().sym);
  apply_offset(best, spec.offset, spec_text);
  return best;
}

std::vector<std::string> SymbolTable::suggest(const std::string& name) const {
  SuggestionCollector collector(name);
  image_->for_each_module([&](const ModuleInfo& m) {
    for_each_symbol(m.handle, [&](const char* sname, const GElf_Sym& sym, GElf_Addr) {
      if (kind_of(sym) != SymbolKind::object) return;  // we watch data: suggest variables
      // Offer C++ names demangled: resolve() accepts that spelling, and it is the readable one.
      collector.offer(is_mangled(sname) ? demangle(sname) : std::string(sname));
    });
    return true;
  });
  return collector.take();
}

ModuleLocation SymbolTable::module_of(std::uint64_t addr) const {
  ModuleInfo m = image_->module_at(addr);
  if (!m.handle) return {};
  ModuleLocation loc;
  loc.module = m.path;
  loc.offset = addr - m.low;
  Dwarf_Addr bias = 0;
  // The bias of the main ELF file; without an ELF (unreadable file) fall back to the offset.
  loc.elf_address = dwfl_module_getelf(m.handle, &bias) ? addr - bias : loc.offset;
  return loc;
}

}  // namespace hwbp::symbols
