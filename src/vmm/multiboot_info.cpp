#include "vmm/multiboot_info.hpp"

#include <cstring>

namespace hwbp::vmm {
namespace {

constexpr std::uint64_t kLowMemoryEnd = 0x9fc00;  // EBDA starts here (640 KiB - 1 KiB)
constexpr std::uint64_t kBiosArea = 0xf0000;
constexpr std::uint64_t kHighMemory = 0x100000;

template <class T>
void put(std::vector<std::uint8_t>& b, std::size_t at, T v) {
  if (b.size() < at + sizeof v) b.resize(at + sizeof v);
  std::memcpy(b.data() + at, &v, sizeof v);
}

std::size_t append_string(std::vector<std::uint8_t>& b, const std::string& s) {
  const std::size_t at = b.size();
  b.insert(b.end(), s.begin(), s.end());
  b.push_back(0);
  return at;
}

}  // namespace

std::vector<E820Entry> pc_memory_map(std::uint64_t ram_bytes) {
  std::vector<E820Entry> map;
  map.push_back({0, std::min(ram_bytes, kLowMemoryEnd), 1});
  map.push_back({kLowMemoryEnd, 0xa0000 - kLowMemoryEnd, 2});
  map.push_back({kBiosArea, kHighMemory - kBiosArea, 2});
  if (ram_bytes > kHighMemory) map.push_back({kHighMemory, ram_bytes - kHighMemory, 1});
  return map;
}

MultibootInfo build_multiboot_info(std::uint64_t at, std::uint64_t ram_bytes, const std::string& cmdline) {
  std::vector<std::uint8_t> b(mbi::size, 0);
  const auto addr = [at](std::size_t offset) { return static_cast<std::uint32_t>(at + offset); };
  // Memory map entries: a size field (not counting itself) then base, length, type.
  const std::size_t mmap_at = b.size();
  for (const E820Entry& e : pc_memory_map(ram_bytes)) {
    const std::size_t entry = b.size();
    put<std::uint32_t>(b, entry, 20);
    put<std::uint64_t>(b, entry + 4, e.base);
    put<std::uint64_t>(b, entry + 12, e.length);
    put<std::uint32_t>(b, entry + 20, e.type);
  }
  const std::size_t mmap_len = b.size() - mmap_at;
  const std::size_t cmdline_at = append_string(b, cmdline);
  const std::size_t name_at = append_string(b, "hwbp vm");
  while (b.size() % 4) b.push_back(0);

  put<std::uint32_t>(b, mbi::flags, mbi::flag_memory | mbi::flag_boot_device | mbi::flag_cmdline | mbi::flag_mods |
                                        mbi::flag_mmap | mbi::flag_loader_name);
  // mem_lower/upper in KiB: conventional memory, and memory from 1 MiB up to the first hole.
  put<std::uint32_t>(b, mbi::mem_lower, 640);
  put<std::uint32_t>(b, mbi::mem_upper,
                     static_cast<std::uint32_t>(ram_bytes > kHighMemory ? (ram_bytes - kHighMemory) / 1024 : 0));
  put<std::uint32_t>(b, mbi::boot_device, 0x8000ffff);  // first BIOS disk, no partition (as QEMU)
  put<std::uint32_t>(b, mbi::cmdline, addr(cmdline_at));
  put<std::uint32_t>(b, mbi::mods_count, 0);
  put<std::uint32_t>(b, mbi::mods_addr, addr(mbi::size));
  put<std::uint32_t>(b, mbi::mmap_length, static_cast<std::uint32_t>(mmap_len));
  put<std::uint32_t>(b, mbi::mmap_addr, addr(mmap_at));
  put<std::uint32_t>(b, mbi::boot_loader_name, addr(name_at));
  return {at, std::move(b)};
}

}  // namespace hwbp::vmm
