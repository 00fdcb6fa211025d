// Code bytes from the files a process had mapped, for when its memory can no longer be read:
// hits recorded by the kernel (the BPF delivery) before an execve are read after it, when the old
// address space is gone but its modules' files, and the image's record of where they were
// mapped, remain. The file's bytes lack run-time patching (relocations do not touch .text of
// position-independent code; alternatives patching is a kernel matter), close enough to decode.
#pragma once

#include <cstdint>
#include <vector>

#include "symbols/process_image.hpp"

namespace hwbp::symbols {

// [addr, addr+len) of the section holding addr in its module's ELF file. Throws
// SymbolError(unreadable) saying why (no module, no section, beyond the section, no file data).
std::vector<std::uint8_t> read_module_file(const ProcessImage& image, std::uint64_t addr, std::size_t len);

// Code at [addr, addr+len) as the process ran it: its live memory (relocations, patching), or,
// where nothing is mapped there any more (an execve or munmap since the access: hits read after
// the fact) or `memory_gone` says so, the module's file. Throws the memory's SymbolError when
// the file cannot help either.
std::vector<std::uint8_t> read_code(const ProcessImage& image, std::uint64_t addr, std::size_t len,
                                    bool memory_gone = false);

}  // namespace hwbp::symbols
