#include "symbols/source_locator.hpp"

#include <elfutils/libdwfl.h>

#include "symbols/demangle.hpp"

namespace hwbp::symbols {
namespace {

void fill_function(Dwfl_Module* mod, std::uint64_t addr, SourceLocation& loc) {
  GElf_Off offset = 0;
  GElf_Sym sym;
  const char* name = dwfl_module_addrinfo(mod, addr, &offset, &sym, nullptr, nullptr, nullptr);
  if (!name) return;
  loc.function = demangle(name);
  loc.function_offset = offset;
}

void fill_line(Dwfl_Module* mod, std::uint64_t addr, SourceLocation& loc) {
  Dwfl_Line* line = dwfl_module_getsrc(mod, addr);
  if (!line) return;  // no DWARF (no -g, stripped without a debuginfo package)
  int lineno = 0, col = 0;
  const char* file = dwfl_lineinfo(line, nullptr, &lineno, &col, nullptr, nullptr);
  if (!file) return;
  loc.file = file;
  loc.line = lineno;
  loc.column = col;
}

}  // namespace

SourceLocator::SourceLocator(std::shared_ptr<ProcessImage> image) : image_(std::move(image)) {}

std::optional<SourceLocation> SourceLocator::locate(std::uint64_t addr) const {
  ModuleInfo m = image_->module_at(addr);
  if (!m.handle) return std::nullopt;
  SourceLocation loc;
  loc.module = m.path;
  fill_function(m.handle, addr, loc);
  fill_line(m.handle, addr, loc);
  loc.inlined = inline_chain(m.handle, addr);
  return loc;
}

}  // namespace hwbp::symbols
