#include "symbols/line_lookup.hpp"

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <cstring>
#include <string_view>
#include <vector>

namespace hwbp::symbols {
namespace {

struct Row {
  Dwarf_Line* line;
  Dwarf_Addr addr;
  bool stmt;
  bool end;
  int lineno;
  const char* file;
};

Row row(Dwarf_Lines* lines, std::size_t i) {
  Row r{dwarf_onesrcline(lines, i), 0, false, false, 0, nullptr};
  dwarf_lineaddr(r.line, &r.addr);
  dwarf_linebeginstatement(r.line, &r.stmt);
  dwarf_lineendsequence(r.line, &r.end);
  dwarf_lineno(r.line, &r.lineno);
  r.file = dwarf_linesrc(r.line, nullptr, nullptr);
  return r;
}

bool same_file(const char* a, const char* b) {
  return a == b || (a && b && std::strcmp(a, b) == 0);
}

}  // namespace

// GDB's line-table reader replayed over the rows of pc's sequence, up to pc (gdb/dwarf2/read.c,
// lnp_state_machine::record_line, GDB 13):
//   - a row is ignored if it has line 0, or if it switches file at an address where a statement
//     row was already seen, without being a statement itself;
//   - a file switch (not ignored) ends the previous file's last line there (dwarf_finish_line);
//   - a row repeating the previous file and line with a non-zero discriminator is not recorded
//     (dwarf_record_line_p): the earlier row's line goes on;
// and then GDB's choice among rows at one address (gdb/symtab.c, find_pc_sect_line): the last,
// or the statement row before it when it is not a statement.
std::optional<SourceLine> line_at(Dwfl_Module* mod, std::uint64_t addr) {
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(mod, addr, &bias);
  if (!cu) return std::nullopt;
  Dwarf_Lines* lines = nullptr;
  std::size_t n = 0;
  if (dwarf_getsrclines(cu, &lines, &n) != 0 || n == 0) return std::nullopt;
  const Dwarf_Addr pc = addr - bias;
  // libdw sorts rows by address, keeping the line program's order at one address (end of
  // sequence first): find the first row past pc, then the start of its sequence.
  std::size_t lo = 0, hi = n;
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    Dwarf_Addr a = 0;
    dwarf_lineaddr(dwarf_onesrcline(lines, mid), &a);
    if (a <= pc) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return std::nullopt;
  std::size_t start = lo - 1;
  while (start > 0 && !row(lines, start - 1).end) --start;
  std::vector<Row> current;  // recorded rows of the active file at the active address
  const char* last_file = nullptr;
  int last_line = 0;
  std::optional<Dwarf_Addr> last_address;
  bool stmt_at_address = false;  // a statement row was seen at last_address
  for (std::size_t i = start; i < lo; ++i) {
    const Row r = row(lines, i);
    if (r.end) {
      current.clear();
      last_file = nullptr;
      last_address.reset();
      stmt_at_address = false;
      continue;
    }
    const bool file_changed = !same_file(last_file, r.file);
    const bool ignore =
        (file_changed && last_address == r.addr && !r.stmt && stmt_at_address) || r.lineno == 0;
    if (!ignore) {
      if (file_changed) current.clear();
      unsigned int discriminator = 0;
      dwarf_linediscriminator(r.line, &discriminator);
      if (file_changed || r.lineno != last_line || discriminator == 0) {
        if (!current.empty() && current.back().addr != r.addr) current.clear();
        current.push_back(r);
      }
      last_file = r.file;
      last_line = r.lineno;
    }
    if (last_address != r.addr) stmt_at_address = false;
    last_address = r.addr;
    stmt_at_address |= r.stmt;
  }
  if (current.empty()) return std::nullopt;
  std::size_t best = current.size() - 1;
  while (best > 0 && !current[best].stmt) --best;
  if (!current[best].stmt) best = current.size() - 1;
  int col = 0;
  dwarf_linecol(current[best].line, &col);
  return SourceLine{current[best].file ? current[best].file : "", current[best].lineno, col};
}

}  // namespace hwbp::symbols
