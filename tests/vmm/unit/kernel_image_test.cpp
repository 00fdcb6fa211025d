// The kernel loader's pure half: Multiboot header search, ELF checks, the Multiboot information
// layout, the UART's registers, the debug-exit status rule, identity page tables.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "hwbp/error.hpp"
#include "vmm/debug_exit.hpp"
#include "vmm/kernel_image.hpp"
#include "vmm/multiboot_info.hpp"
#include "vmm/page_tables.hpp"
#include "vmm/uart16550.hpp"

namespace hwbp::vmm {
namespace {

std::vector<std::uint8_t> file_bytes(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <class T>
T load(const std::vector<std::uint8_t>& b, std::size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

TEST(KernelImage, ExampleKernelIsMultibootWithItsSegmentsAtOneMiB) {
  const KernelImage k = read_kernel(HWBP_GUEST_KERNEL);
  EXPECT_EQ(k.protocol, BootProtocol::multiboot);
  EXPECT_FALSE(k.elf64);
  ASSERT_TRUE(k.multiboot);
  EXPECT_EQ(k.multiboot->flags, 3u);
  EXPECT_EQ(k.lowest(), 0x100000u);
  EXPECT_GT(k.end(), k.lowest());
  EXPECT_GE(k.entry, k.lowest());
  EXPECT_LT(k.entry, k.end());
}

TEST(KernelImage, HeaderNeedsMagicChecksumAndAlignment) {
  std::vector<std::uint8_t> b(64, 0);
  const std::uint32_t magic = kMultibootHeaderMagic, flags = 2, sum = -(magic + flags);
  std::memcpy(b.data() + 8, &magic, 4);
  std::memcpy(b.data() + 12, &flags, 4);
  std::memcpy(b.data() + 16, &sum, 4);
  auto h = find_multiboot_header(b);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->offset, 8u);
  EXPECT_EQ(h->flags, 2u);
  const std::uint32_t bad = sum + 1;
  std::memcpy(b.data() + 16, &bad, 4);
  EXPECT_FALSE(find_multiboot_header(b));
  std::vector<std::uint8_t> shifted(64, 0);  // the same valid header at offset 10: not 4-aligned
  std::memcpy(shifted.data() + 10, &magic, 4);
  std::memcpy(shifted.data() + 14, &flags, 4);
  std::memcpy(shifted.data() + 18, &sum, 4);
  EXPECT_FALSE(find_multiboot_header(shifted));
}

TEST(KernelImage, HeaderBeyondEightKiBIsNotFound) {
  std::vector<std::uint8_t> b(kMultibootSearch + 64, 0);
  const std::uint32_t magic = kMultibootHeaderMagic, flags = 0, sum = -magic;
  std::memcpy(b.data() + kMultibootSearch, &magic, 4);
  std::memcpy(b.data() + kMultibootSearch + 4, &flags, 4);
  std::memcpy(b.data() + kMultibootSearch + 8, &sum, 4);
  EXPECT_FALSE(find_multiboot_header(b));
}

void expect_refused(std::span<const std::uint8_t> bytes, const std::string& needle) {
  try {
    parse_kernel(bytes, "k.elf");
    FAIL() << "accepted; expected: " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_request);
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

TEST(KernelImage, RefusesWhatIsNotAnElfOrNotMultiboot) {
  const std::string text = "#!/bin/sh\necho not a kernel\n";
  expect_refused({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, "not an ELF file");
  // A 64-bit host program: ELF64 without a Multiboot header but not ET_EXEC (PIE) or x86 ok.
  auto self = file_bytes("/proc/self/exe");
  expect_refused(self, "not an executable ELF");
  // The example kernel with its header's magic broken: a 32-bit ELF that is not Multiboot.
  auto k = file_bytes(HWBP_GUEST_KERNEL);
  auto h = find_multiboot_header(k);
  ASSERT_TRUE(h);
  k[h->offset] ^= 0xff;
  expect_refused(k, "no Multiboot v1 header");
}

TEST(KernelImage, Example64BitKernelIsEnteredInLongModeAtItsEntry) {
  const KernelImage k = read_kernel(HWBP_GUEST_KERNEL64);
  EXPECT_EQ(k.protocol, BootProtocol::elf64);
  EXPECT_TRUE(k.elf64);
  EXPECT_FALSE(k.multiboot);
  EXPECT_EQ(k.lowest(), 0x100000u);
  EXPECT_GE(k.entry, k.lowest());
  EXPECT_LT(k.entry, k.end());
}

TEST(KernelImage, RefusesAnUpperHalf64BitKernel) {
  // The 64-bit example with its first segment's p_vaddr moved to Linux's kernel map.
  std::vector<std::uint8_t> k = file_bytes(HWBP_GUEST_KERNEL64);
  const auto phoff = load<std::uint64_t>(k, 0x20);  // Elf64_Ehdr.e_phoff
  const std::uint64_t high = 0xffffffff80100000ull;
  std::memcpy(k.data() + phoff + 16, &high, 8);  // Elf64_Phdr.p_vaddr
  expect_refused(k, "upper-half kernels are not supported");
}

TEST(KernelImage, RefusesMultibootFlagsItCannotHonour) {
  auto k = file_bytes(HWBP_GUEST_KERNEL);
  auto h = find_multiboot_header(k);
  ASSERT_TRUE(h);
  const std::uint32_t flags = 3 | 4, sum = -(kMultibootHeaderMagic + flags);  // + video mode
  std::memcpy(k.data() + h->offset + 4, &flags, 4);
  std::memcpy(k.data() + h->offset + 8, &sum, 4);
  expect_refused(k, "flag 2 (video mode)");
}

TEST(MultibootInfo, LayoutAsTheSpecificationAndQemu) {
  const std::uint64_t at = 0x105000, ram = 64ull << 20;
  const MultibootInfo info = build_multiboot_info(at, ram, "/k.elf loops=3");
  const auto& b = info.bytes;
  EXPECT_EQ(info.address, at);
  const std::uint32_t flags = load<std::uint32_t>(b, mbi::flags);
  EXPECT_EQ(flags, mbi::flag_memory | mbi::flag_boot_device | mbi::flag_cmdline | mbi::flag_mods | mbi::flag_mmap |
                       mbi::flag_loader_name);
  EXPECT_EQ(load<std::uint32_t>(b, mbi::mem_lower), 640u);
  EXPECT_EQ(load<std::uint32_t>(b, mbi::mem_upper), (ram - 0x100000) / 1024);
  const std::uint32_t cmdline = load<std::uint32_t>(b, mbi::cmdline);
  ASSERT_GE(cmdline, at);
  EXPECT_STREQ(reinterpret_cast<const char*>(b.data() + (cmdline - at)), "/k.elf loops=3");
  const std::uint32_t mmap = load<std::uint32_t>(b, mbi::mmap_addr), len = load<std::uint32_t>(b, mbi::mmap_length);
  ASSERT_EQ(len, 4u * 24);
  // Entries: size (20), base, length, type; the last one is RAM above 1 MiB.
  const std::size_t last = mmap - at + 3 * 24;
  EXPECT_EQ(load<std::uint32_t>(b, last), 20u);
  EXPECT_EQ(load<std::uint64_t>(b, last + 4), 0x100000u);
  EXPECT_EQ(load<std::uint64_t>(b, last + 12), ram - 0x100000);
  EXPECT_EQ(load<std::uint32_t>(b, last + 20), 1u);
  EXPECT_EQ(b.size() % 4, 0u);
}

TEST(Uart16550, TransmitsDataHidesDivisorAndIsAlwaysReady) {
  std::string out;
  Uart16550 uart([&out](std::uint8_t c) { out.push_back(static_cast<char>(c)); });
  EXPECT_TRUE(uart.owns(0x3f8));
  EXPECT_TRUE(uart.owns(0x3ff));
  EXPECT_FALSE(uart.owns(0x400));
  uart.write(0x3fb, 0x80);  // DLAB
  uart.write(0x3f8, 0x01);  // divisor low: not output
  uart.write(0x3f9, 0x00);
  EXPECT_EQ(uart.read(0x3f8), 0x01);
  uart.write(0x3fb, 0x03);
  uart.write(0x3f8, 'h');
  uart.write(0x3f8, 'i');
  EXPECT_EQ(out, "hi");
  EXPECT_EQ(uart.read(0x3fd) & 0x60, 0x60);
  uart.write(0x3ff, 0x5a);
  EXPECT_EQ(uart.read(0x3ff), 0x5a);
}

TEST(DebugExit, QemusStatusRule) {
  EXPECT_EQ(debug_exit_status(0), 1);
  EXPECT_EQ(debug_exit_status(1), 3);
  EXPECT_EQ(debug_exit_status(5), 11);
  EXPECT_EQ(debug_exit_status(0x7f), 0xff);
  EXPECT_EQ(debug_exit_status(0x80), 1);  // the shell sees the low 8 bits
  EXPECT_TRUE(is_debug_exit_port(0xf4));
  EXPECT_TRUE(is_debug_exit_port(0xf7));
  EXPECT_FALSE(is_debug_exit_port(0xf8));
}

TEST(PageTables, IdentityMapsFourGiBWithLargePages) {
  const std::uint64_t at = 0x1000;
  const auto t = build_identity_page_tables(at, 64ull << 20);
  ASSERT_EQ(t.size(), kIdentityTablesBytes);
  EXPECT_EQ(load<std::uint64_t>(t, 0), (at + 0x1000) | 3);
  for (std::uint64_t gib = 0; gib < 4; ++gib)
    EXPECT_EQ(load<std::uint64_t>(t, 0x1000 + 8 * gib), (at + 0x2000 + gib * 0x1000) | 3);
  // PD 3, entry 5: 3 GiB + 10 MiB, present, writable, 2 MiB page.
  EXPECT_EQ(load<std::uint64_t>(t, 0x2000 + 3 * 0x1000 + 5 * 8), ((3ull << 30) + (5ull << 21)) | 0x83);
}

}  // namespace
}  // namespace hwbp::vmm
