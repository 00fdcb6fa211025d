#include "symbols/source_locator.hpp"

#include <elfutils/libdwfl.h>

#include "symbols/function_name.hpp"
#include "symbols/line_lookup.hpp"

namespace hwbp::symbols {
namespace {

void fill_function(Dwfl_Module* mod, std::uint64_t addr, SourceLocation& loc) {
  auto fn = function_at(mod, addr);
  if (!fn) return;
  loc.function = std::move(fn->name);
  loc.function_offset = fn->offset;
}

void fill_line(Dwfl_Module* mod, std::uint64_t addr, SourceLocation& loc) {
  auto line = line_at(mod, addr);  // no DWARF (no -g, stripped without a debuginfo package)
  if (!line) return;
  loc.file = std::move(line->file);
  loc.line = line->line;
  loc.column = line->column;
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
