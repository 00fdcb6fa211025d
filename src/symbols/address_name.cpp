#include "symbols/address_name.hpp"

#include <elfutils/libdwfl.h>
#include <fmt/format.h>

#include "symbols/function_name.hpp"

namespace hwbp::symbols {

std::string address_name(const ProcessImage& image, std::uint64_t addr) {
  const ModuleInfo m = image.module_at(addr);
  if (!m.handle) return "";
  GElf_Off offset = 0;
  GElf_Sym sym;
  const char* name = dwfl_module_addrinfo(m.handle, addr, &offset, &sym, nullptr, nullptr, nullptr);
  // A symbol of size 0 "covers" everything up to the next one: GDB does not name such
  // addresses after it unless they are its own (an assembler label).
  if (!name || !*name || (sym.st_size == 0 && offset != 0)) return "";
  const std::string shown = display_symbol_name(name);
  return offset ? fmt::format("<{}+{}>", shown, offset) : fmt::format("<{}>", shown);
}

}  // namespace hwbp::symbols
