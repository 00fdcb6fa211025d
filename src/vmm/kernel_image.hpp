// A guest kernel file as a loader sees it: its ELF load segments, its entry, and how it wants to
// be booted. Pure: parses bytes (libelf over memory), touches no VM.
//
// Boot protocols, decided as QEMU's `-kernel` does (hw/i386/multiboot.c, hw/i386/x86.c):
//  - Multiboot v1: a header (magic 0x1BADB002, flags, checksum making the three sum to 0) in
//    the first 8192 bytes, 4-byte aligned (Multiboot Specification 0.6.96, 3.1.1). The ELF must be
//    32-bit (QEMU: "Cannot load x86-64 image, give a 32bit one."); segments load at their
//    physical addresses (p_paddr).
//  - 64-bit ELF without a Multiboot header: hwbp's own rule (QEMU has none): entered in long mode
//    at e_entry, segments at p_paddr, guest RAM identity-mapped.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace hwbp::vmm {

struct LoadSegment {
  std::uint64_t paddr = 0;
  std::uint64_t vaddr = 0;
  std::uint64_t memsz = 0;           // bytes in memory; past the file's bytes: zero (bss)
  std::vector<std::uint8_t> bytes;   // the file's bytes (p_filesz)
};

struct MultibootHeader {
  std::uint32_t offset = 0;  // in the file
  std::uint32_t flags = 0;
};

enum class BootProtocol : std::uint8_t { multiboot, elf64 };
const char* to_string(BootProtocol protocol) noexcept;

struct KernelImage {
  std::string path;
  BootProtocol protocol = BootProtocol::multiboot;
  bool elf64 = false;
  std::uint64_t entry = 0;  // physical: where the vCPU starts
  std::vector<LoadSegment> segments;
  std::optional<MultibootHeader> multiboot;

  // Lowest and one-past-highest physical byte the segments occupy.
  std::uint64_t lowest() const;
  std::uint64_t end() const;
};

inline constexpr std::uint32_t kMultibootHeaderMagic = 0x1BADB002;
inline constexpr std::uint32_t kMultibootBootloaderMagic = 0x2BADB002;  // EAX at entry
inline constexpr std::size_t kMultibootSearch = 8192;

// The Multiboot v1 header of a file, if it has a valid one.
std::optional<MultibootHeader> find_multiboot_header(std::span<const std::uint8_t> file);

// Throws hwbp::Error(invalid_request) with one line naming `path`: not an ELF, not x86, no
// Multiboot header on a 32-bit ELF, Multiboot flags this loader cannot honour, no segments.
KernelImage parse_kernel(std::span<const std::uint8_t> file, const std::string& path);
KernelImage read_kernel(const std::string& path);

}  // namespace hwbp::vmm
