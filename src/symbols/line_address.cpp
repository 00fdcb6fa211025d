#include "symbols/line_address.hpp"

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>

#include "symbols/symbol_error.hpp"

namespace hwbp::symbols {
namespace {

constexpr int kLinesAhead = 32;  // how far a line without code looks for the next with code

struct FreeLines {
  void operator()(Dwfl_Line** p) const noexcept { std::free(p); }
};

// The start of the function holding addr (its ELF symbol), so that a line split into several
// ranges of one function (a loop's condition, say) gives one location, as in GDB.
std::uint64_t function_start(Dwfl_Module* mod, std::uint64_t addr) {
  GElf_Off offset = 0;
  GElf_Sym sym;
  return dwfl_module_addrinfo(mod, addr, &offset, &sym, nullptr, nullptr, nullptr) ? addr - offset : addr;
}

// The rows of FILE:LINE in one module: libdwfl gives, per source file of each CU, every row of
// the line, or the row of the nearest later line with code.
void module_rows(Dwfl_Module* mod, const std::string& file, int line, std::vector<LineAddress>& out,
                 std::string& module_path) {
  Dwfl_Line** rows = nullptr;
  std::size_t n = 0;
  module_path = dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr) ?: "";
  if (dwfl_module_getsrc_file(mod, file.c_str(), line, 0, &rows, &n) != 0) return;
  std::unique_ptr<Dwfl_Line*, FreeLines> owned(rows);
  // The nearest line found (every CU's best match may differ: keep the closest).
  int best = 0;
  for (std::size_t i = 0; i < n; ++i) {
    int l = 0;
    dwfl_lineinfo(rows[i], nullptr, &l, nullptr, nullptr, nullptr);
    if (l >= line && (best == 0 || l < best)) best = l;
  }
  std::map<std::uint64_t, LineAddress> per_function;
  for (std::size_t i = 0; i < n; ++i) {
    Dwarf_Addr addr = 0;
    int l = 0;
    const char* src = dwfl_lineinfo(rows[i], &addr, &l, nullptr, nullptr, nullptr);
    Dwarf_Addr bias = 0;
    Dwarf_Line* dl = dwfl_dwarf_line(rows[i], &bias);
    bool stmt = true, end = false;
    if (dl) {
      dwarf_linebeginstatement(dl, &stmt);
      dwarf_lineendsequence(dl, &end);
    }
    if (l != best || !stmt || end) continue;
    const std::uint64_t fn = function_start(mod, addr);
    auto it = per_function.find(fn);
    if (it == per_function.end() || addr < it->second.address)
      per_function[fn] = LineAddress{addr, src ? src : file, l, module_path};
  }
  for (auto& [fn, loc] : per_function) out.push_back(std::move(loc));
}

}  // namespace

std::vector<LineAddress> line_addresses(const ProcessImage& image, std::string_view file, int line) {
  const std::string name(file);
  std::vector<LineAddress> out;
  std::vector<std::string> without_lines;
  // The main executable first, the libraries only when it has no such line: reading a big
  // library's line tables (libc with libc6-dbg) costs far more than a program's. libdwfl
  // answers exact lines only: a line without code (blank, a comment, a declaration) moves to
  // the next one that has some, as GDB's breakpoints do, a few lines at most.
  for (const bool main_pass : {true, false}) {
    std::vector<Dwfl_Module*> mods;
    image.for_each_module([&](const ModuleInfo& m) {
      if (m.is_main_executable != main_pass) return true;
      Dwarf_Addr bias = 0;
      if (dwfl_module_getdwarf(m.handle, &bias)) mods.push_back(m.handle);
      else without_lines.push_back(m.path);
      return true;
    });
    for (int l = line; l < line + kLinesAhead && out.empty(); ++l)
      for (Dwfl_Module* mod : mods) {
        std::string path;
        module_rows(mod, name, l, out, path);
      }
    if (!out.empty()) break;
  }
  if (out.empty()) {
    std::string why = fmt::format("no code at {}:{} in {}", name, line, image.description());
    if (!without_lines.empty())
      why += fmt::format(" ({} module{} without debug info: file:line needs it, e.g. {})", without_lines.size(),
                         without_lines.size() == 1 ? "" : "s", without_lines.front());
    throw SymbolError(SymbolErrc::not_found, why);
  }
  // Only the nearest line across modules, as within one.
  const int best = std::min_element(out.begin(), out.end(), [](auto& a, auto& b) { return a.line < b.line; })->line;
  std::erase_if(out, [best](const LineAddress& a) { return a.line != best; });
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.address < b.address; });
  return out;
}

}  // namespace hwbp::symbols
