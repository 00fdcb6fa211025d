#include "symbols/module_file_code.hpp"

#include <elfutils/libdwfl.h>
#include <fmt/format.h>
#include <gelf.h>

#include <cerrno>
#include <cstring>

#include "symbols/process_memory.hpp"
#include "symbols/symbol_error.hpp"

namespace hwbp::symbols {

std::vector<std::uint8_t> read_module_file(const ProcessImage& image, std::uint64_t addr, std::size_t len) {
  auto fail = [&](const std::string& why) -> std::vector<std::uint8_t> {
    throw SymbolError(SymbolErrc::unreadable,
                      fmt::format("cannot read {} bytes at {:#x} from the program's files: {}", len, addr, why));
  };
  const ModuleInfo m = image.module_at(addr);
  if (!m.handle) return fail("the address was in no known module");
  Dwarf_Addr in_section = addr, bias = 0;
  Elf_Scn* scn = dwfl_module_address_section(m.handle, &in_section, &bias);
  if (!scn) return fail("no section of " + m.path + " holds it");
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (!data || !data->d_buf) return fail("the section of " + m.path + " has no data in the file");
  if (in_section + len > data->d_size) return fail("it runs past the end of its section in " + m.path);
  std::vector<std::uint8_t> out(len);
  std::memcpy(out.data(), static_cast<const std::uint8_t*>(data->d_buf) + in_section, len);
  return out;
}

std::vector<std::uint8_t> read_code(const ProcessImage& image, std::uint64_t addr, std::size_t len,
                                    bool memory_gone) {
  if (memory_gone) return read_module_file(image, addr, len);
  try {
    return ProcessMemory(image.pid()).read(addr, len);
  } catch (const SymbolError& e) {
    // EFAULT (process_vm_readv) / EIO (/proc/PID/mem): no mapping there now.
    if (e.sys_errno() != EFAULT && e.sys_errno() != EIO) throw;
    try {
      return read_module_file(image, addr, len);
    } catch (const SymbolError&) {
      throw e;
    }
  }
}

}  // namespace hwbp::symbols
