#include "symbols/code_location.hpp"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "symbols/function_name.hpp"
#include "symbols/line_lookup.hpp"
#include "symbols/process_memory.hpp"
#include "symbols/symbol_error.hpp"

namespace hwbp::symbols {
namespace {

struct LineRow {
  Dwarf_Addr addr = 0;
  int line = 0;
  bool stmt = false;
  bool end = false;
  const char* file = nullptr;
};

LineRow row_at(Dwarf_Lines* lines, std::size_t i) {
  LineRow r;
  Dwarf_Line* l = dwarf_onesrcline(lines, i);
  dwarf_lineaddr(l, &r.addr);
  dwarf_lineno(l, &r.line);
  dwarf_linebeginstatement(l, &r.stmt);
  dwarf_lineendsequence(l, &r.end);
  r.file = dwarf_linesrc(l, nullptr, nullptr);
  return r;
}

// "dir/prog.c" names "/src/dir/prog.c" (whole path components, as GDB matches a breakpoint's file).
bool file_matches(const char* path, std::string_view want) {
  if (!path) return false;
  std::string_view p(path);
  if (p.size() < want.size() || p.substr(p.size() - want.size()) != want) return false;
  return p.size() == want.size() || p[p.size() - want.size() - 1] == '/';
}

std::string describe(const SymbolTable& table, std::uint64_t addr) {
  ModuleInfo m = table.image().module_at(addr);
  auto fn_name = m.handle ? function_at(m.handle, addr) : std::nullopt;
  std::string fn = fn_name ? fn_name->name : std::string();
  auto line = m.handle ? line_at(m.handle, addr) : std::nullopt;
  std::string text = fn.empty() ? fmt::format("{:#x}", addr) : fn;
  if (line) {
    std::string_view file(line->file);
    if (auto slash = file.rfind('/'); slash != std::string_view::npos) file.remove_prefix(slash + 1);
    text += fmt::format(" at {}:{}", file, line->line);
  }
  return text;
}

// Does the function set up a frame pointer (`[endbr64] push %rbp; mov %rsp,%rbp`), as GCC's -O0
// code does? GDB's amd64 prologue analysis looks for exactly that (gdb/amd64-tdep.c,
// amd64_analyze_prologue) and, for GCC's code, stops after the prologue only then: the
// parameters are then stored to their stack slots by the rest of the function's first line.
bool sets_frame_pointer(const SymbolTable& table, std::uint64_t entry) {
  std::vector<std::uint8_t> code;
  try {
    code = ProcessMemory(table.image().pid()).read(entry, 8);
  } catch (const std::exception&) {
    return false;
  }
  std::size_t i = 0;
  static constexpr std::uint8_t kEndbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};
  if (std::memcmp(code.data(), kEndbr64, 4) == 0) i = 4;
  if (code[i] != 0x55) return false;  // push %rbp
  return (code[i + 1] == 0x48 && code[i + 2] == 0x89 && code[i + 3] == 0xe5) ||  // mov %rsp,%rbp
         (code[i + 1] == 0x48 && code[i + 2] == 0x8b && code[i + 3] == 0xec);
}

// Where GDB's `break FUNCTION` stops in GCC's code (gdb/symtab.c, skip_prologue_sal, with
// amd64_skip_prologue): after a frame-pointer prologue, at the end of the function's first line
// (the first statement row after the entry with another line, inside the function); else at the
// entry itself (optimized code: the parameters are in their entry registers, which DWARF
// location lists describe).
std::uint64_t after_prologue(const SymbolTable& table, const ModuleInfo& m, std::uint64_t entry) {
  if (table.image().pid() <= 0 || !sets_frame_pointer(table, entry)) return entry;
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = m.handle ? dwfl_module_addrdie(m.handle, entry, &bias) : nullptr;
  if (!cu) return entry;
  const Dwarf_Addr pc = entry - bias;
  Dwarf_Die* scopes = nullptr;
  Dwarf_Addr high = 0;
  const int n = dwarf_getscopes(cu, pc, &scopes);
  for (int i = 0; i < n; ++i)
    if (dwarf_tag(&scopes[i]) == DW_TAG_subprogram) {
      if (dwarf_highpc(&scopes[i], &high) != 0) high = 0;
      break;
    }
  std::free(scopes);
  Dwarf_Lines* lines = nullptr;
  std::size_t count = 0;
  if (high == 0 || dwarf_getsrclines(cu, &lines, &count) != 0) return entry;
  int first_line = 0;
  std::optional<Dwarf_Addr> best;
  for (std::size_t i = 0; i < count; ++i) {
    const LineRow r = row_at(lines, i);
    if (r.addr == pc && !r.end && first_line == 0) first_line = r.line;
  }
  if (first_line == 0) return entry;
  for (std::size_t i = 0; i < count; ++i) {
    const LineRow r = row_at(lines, i);
    if (r.end || !r.stmt || r.addr <= pc || r.addr >= high || r.line == first_line || r.line == 0) continue;
    if (!best || r.addr < *best) best = r.addr;
  }
  return best ? *best + bias : entry;
}

std::optional<CodeLocation> file_line(const SymbolTable& table, std::string_view file, int line) {
  // The lowest statement address of the line itself, else of the nearest later line with code.
  std::optional<std::uint64_t> exact, later;
  int later_line = 0;
  table.image().for_each_module([&](const ModuleInfo& m) {
    Dwarf_Addr bias = 0;
    for (Dwarf_Die* cu = nullptr; (cu = dwfl_module_nextcu(m.handle, cu, &bias)) != nullptr;) {
      Dwarf_Lines* lines = nullptr;
      std::size_t count = 0;
      if (dwarf_getsrclines(cu, &lines, &count) != 0) continue;
      for (std::size_t i = 0; i < count; ++i) {
        const LineRow r = row_at(lines, i);
        if (r.end || !r.stmt || r.line < line || !file_matches(r.file, file)) continue;
        const std::uint64_t addr = r.addr + bias;
        if (r.line == line) {
          if (!exact || addr < *exact) exact = addr;
        } else if (!later || r.line < later_line || (r.line == later_line && addr < *later)) {
          later = addr, later_line = r.line;
        }
      }
    }
    return true;
  });
  auto chosen = exact ? exact : later;
  if (!chosen) return std::nullopt;
  return CodeLocation{*chosen, describe(table, *chosen)};
}

}  // namespace

CodeLocation resolve_code_location(const SymbolTable& table, std::string_view text) {
  if (text.empty()) throw SymbolError(SymbolErrc::bad_spec, "--at needs a location: FUNCTION, FILE:LINE or 0xADDR");
  if (text.rfind("0x", 0) == 0 || text.rfind("0X", 0) == 0) {
    std::uint64_t addr = 0;
    auto [end, ec] = std::from_chars(text.data() + 2, text.data() + text.size(), addr, 16);
    if (ec != std::errc() || end != text.data() + text.size() || addr == 0)
      throw SymbolError(SymbolErrc::bad_spec, fmt::format("--at '{}': not a hexadecimal address", text));
    return CodeLocation{addr, describe(table, addr)};
  }
  if (auto colon = text.rfind(':'); colon != std::string_view::npos && colon > 0 &&
                                    text.substr(colon - 1, 2) != "::") {
    const std::string_view file = text.substr(0, colon), digits = text.substr(colon + 1);
    int line = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), line);
    if (ec != std::errc() || end != digits.data() + digits.size() || line <= 0)
      throw SymbolError(SymbolErrc::bad_spec, fmt::format("--at '{}': FILE:LINE needs a line number "
                                                          "after the colon", text));
    if (auto loc = file_line(table, file, line)) return *loc;
    throw SymbolError(SymbolErrc::not_found,
                      fmt::format("--at '{}': no code at line {} of '{}' or after it in the loaded "
                                  "modules' line tables (build with -g; a file of a library is found "
                                  "once it is loaded)", text, line, file));
  }
  ResolvedSymbol sym;
  try {
    sym = table.resolve(text);
  } catch (const SymbolError& e) {
    throw SymbolError(e.symbol_code(), fmt::format("--at '{}': {}", text, e.what()));
  }
  if (sym.kind != SymbolKind::function)
    throw SymbolError(SymbolErrc::bad_spec, fmt::format("--at '{}': '{}' is not a function; give "
                                                        "a function, FILE:LINE or 0xADDR", text, text));
  const std::uint64_t addr = sym.offset ? sym.address
                                        : after_prologue(table, table.image().module_at(sym.address), sym.address);
  return CodeLocation{addr, describe(table, addr)};
}

}  // namespace hwbp::symbols
