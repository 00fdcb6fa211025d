#include "vmm/kernel_image.hpp"

#include <fmt/format.h>
#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

#include "hwbp/error.hpp"

namespace hwbp::vmm {
namespace {

// Multiboot header flags (Multiboot Specification 3.1.2). Bits 0-15 are requirements: a loader
// that does not understand one must refuse the kernel.
constexpr std::uint32_t kPageAlignModules = 1u << 0;
constexpr std::uint32_t kMemoryInfo = 1u << 1;
constexpr std::uint32_t kVideoMode = 1u << 2;
constexpr std::uint32_t kAddressFields = 1u << 16;  // the a.out kludge

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw Error(Errc::invalid_request, fmt::format("kernel '{}': {}", path, why));
}

std::uint32_t load_u32(std::span<const std::uint8_t> b, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};

}  // namespace

const char* to_string(BootProtocol protocol) noexcept {
  return protocol == BootProtocol::multiboot ? "multiboot" : "elf64";
}

std::uint64_t KernelImage::lowest() const {
  std::uint64_t low = UINT64_MAX;
  for (const auto& s : segments) low = std::min(low, s.paddr);
  return segments.empty() ? 0 : low;
}

std::uint64_t KernelImage::end() const {
  std::uint64_t high = 0;
  for (const auto& s : segments) high = std::max(high, s.paddr + s.memsz);
  return high;
}

std::optional<MultibootHeader> find_multiboot_header(std::span<const std::uint8_t> file) {
  const std::size_t limit = std::min(file.size(), kMultibootSearch);
  for (std::size_t at = 0; at + 12 <= limit; at += 4) {
    if (load_u32(file, at) != kMultibootHeaderMagic) continue;
    const std::uint32_t flags = load_u32(file, at + 4);
    if (static_cast<std::uint32_t>(kMultibootHeaderMagic + flags + load_u32(file, at + 8)) != 0) continue;
    return MultibootHeader{static_cast<std::uint32_t>(at), flags};
  }
  return std::nullopt;
}

KernelImage parse_kernel(std::span<const std::uint8_t> file, const std::string& path) {
  if (file.size() < 4 || std::memcmp(file.data(), ELFMAG, SELFMAG) != 0)
    refuse(path, "not an ELF file (hwbp vm boots Multiboot v1 ELF and 64-bit ELF kernels)");
  elf_version(EV_CURRENT);
  std::unique_ptr<Elf, ElfCloser> elf(
      elf_memory(const_cast<char*>(reinterpret_cast<const char*>(file.data())), file.size()));
  GElf_Ehdr eh;
  if (!elf || !gelf_getehdr(elf.get(), &eh)) refuse(path, fmt::format("unreadable ELF header ({})", elf_errmsg(-1)));
  KernelImage image;
  image.path = path;
  image.elf64 = gelf_getclass(elf.get()) == ELFCLASS64;
  if (eh.e_machine != (image.elf64 ? EM_X86_64 : EM_386))
    refuse(path, fmt::format("ELF machine {} is not x86 (EM_386 for Multiboot, EM_X86_64 for a 64-bit kernel)",
                             eh.e_machine));
  if (eh.e_type != ET_EXEC) refuse(path, "not an executable ELF (ET_EXEC): link the kernel at fixed addresses");
  image.multiboot = find_multiboot_header(file);
  if (image.multiboot) {
    const std::uint32_t flags = image.multiboot->flags;
    if (image.elf64)
      refuse(path, "a Multiboot header in a 64-bit ELF: Multiboot v1 kernels are 32-bit ELF files (QEMU refuses "
                   "them too); drop the header to boot it as a 64-bit kernel");
    if (flags & kAddressFields)
      refuse(path, "Multiboot header flag 16 (a.out load addresses) is not supported: boot the ELF sections");
    if (flags & kVideoMode) refuse(path, "Multiboot header flag 2 (video mode) is not supported: clear it");
    if (flags & 0xfff8u & ~(kPageAlignModules | kMemoryInfo))
      refuse(path, fmt::format("Multiboot header requires flags {:#x} this loader does not know", flags & 0xffffu));
    image.protocol = BootProtocol::multiboot;
  } else if (image.elf64) {
    image.protocol = BootProtocol::elf64;
  } else {
    refuse(path, "no Multiboot v1 header in its first 8 KiB (magic 0x1BADB002): not a Multiboot kernel");
  }
  std::size_t count = 0;
  if (elf_getphdrnum(elf.get(), &count) != 0) refuse(path, "unreadable program headers");
  for (std::size_t i = 0; i < count; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(elf.get(), static_cast<int>(i), &ph) || ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    if (ph.p_filesz > ph.p_memsz || ph.p_offset + ph.p_filesz > file.size())
      refuse(path, fmt::format("program header {} points past the end of the file", i));
    LoadSegment s;
    s.paddr = ph.p_paddr;
    s.vaddr = ph.p_vaddr;
    s.memsz = ph.p_memsz;
    s.bytes.assign(file.begin() + static_cast<std::ptrdiff_t>(ph.p_offset),
                   file.begin() + static_cast<std::ptrdiff_t>(ph.p_offset + ph.p_filesz));
    image.segments.push_back(std::move(s));
  }
  if (image.segments.empty()) refuse(path, "no loadable segment (PT_LOAD)");
  // A 64-bit kernel runs on identity-mapped tables (page_tables.hpp): its code must run at the
  // addresses it is loaded at. An upper-half kernel (Linux's 0xffffffff80000000 + paddr) would
  // fault on its first absolute reference; its addresses are also outside the user range the
  // CLI's watch specs accept (core::validate_range).
  if (image.protocol == BootProtocol::elf64)
    for (const auto& s : image.segments)
      if (s.vaddr != s.paddr)
        refuse(path, fmt::format("a segment linked at virtual {:#x} loads at physical {:#x}: hwbp vm maps 64-bit "
                                 "kernels identity (virtual = physical, first 4 GiB), upper-half kernels are not "
                                 "supported; link it at its load addresses",
                                 s.vaddr, s.paddr));
  // e_entry is a virtual address; a kernel linked high but loaded low (p_vaddr != p_paddr) starts
  // at the physical copy of it, as QEMU's loader translates it.
  image.entry = eh.e_entry;
  for (const auto& s : image.segments)
    if (eh.e_entry >= s.vaddr && eh.e_entry < s.vaddr + s.memsz) image.entry = s.paddr + (eh.e_entry - s.vaddr);
  return image;
}

KernelImage read_kernel(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) refuse(path, fmt::format("cannot open it ({})", std::strerror(errno)));
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_kernel(bytes, path);
}

}  // namespace hwbp::vmm
