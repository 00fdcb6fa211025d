// The Multiboot v1 information structure a loader hands the kernel in EBX (Multiboot
// Specification 0.6.96, section 3.3), laid out as QEMU's `-kernel` fills it (hw/i386/multiboot.c):
// memory sizes, a memory map, the command line "KERNEL-PATH ARGS", the boot loader's name. Pure:
// returns the bytes to place at a guest-physical address.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hwbp::vmm {

struct E820Entry {
  std::uint64_t base = 0;
  std::uint64_t length = 0;
  std::uint32_t type = 1;  // 1 available, 2 reserved
};

// The PC memory map of `ram_bytes` of RAM from address 0: low memory up to the EBDA, the
// legacy VGA/BIOS hole reserved, the rest available.
std::vector<E820Entry> pc_memory_map(std::uint64_t ram_bytes);

struct MultibootInfo {
  std::uint64_t address = 0;        // guest-physical address of the structure (EBX)
  std::vector<std::uint8_t> bytes;  // structure, memory map, command line, loader name
};

// `at`: where the bytes go (4-byte aligned; everything lies in [at, at + bytes.size())).
MultibootInfo build_multiboot_info(std::uint64_t at, std::uint64_t ram_bytes, const std::string& cmdline);

// Field offsets of the structure (the specification's table), for tests and loaders.
namespace mbi {
inline constexpr std::size_t flags = 0, mem_lower = 4, mem_upper = 8, boot_device = 12, cmdline = 16,
                             mods_count = 20, mods_addr = 24, mmap_length = 44, mmap_addr = 48,
                             boot_loader_name = 64, size = 88;
inline constexpr std::uint32_t flag_memory = 1u << 0, flag_boot_device = 1u << 1, flag_cmdline = 1u << 2,
                               flag_mods = 1u << 3, flag_mmap = 1u << 6, flag_loader_name = 1u << 9;
}  // namespace mbi

}  // namespace hwbp::vmm
