// What an address points to, as GDB shows it after a pointer value ("0x4c6a30 <second>",
// "<table+8>", "<main+4>"): the ELF symbol covering it (GDB's minimal symbol lookup,
// `set print symbol on`), version suffix dropped, C++ demangled.
#pragma once

#include <cstdint>
#include <string>

#include "symbols/process_image.hpp"

namespace hwbp::symbols {

// "<name>" or "<name+OFFSET>" (decimal, as GDB prints it); empty when no symbol covers addr
// (heap, stack, unmapped, null).
std::string address_name(const ProcessImage& image, std::uint64_t addr);

}  // namespace hwbp::symbols
