// The register file GDB sees, and its target description (GDB manual, "Target Descriptions",
// features org.gnu.gdb.i386.core / .sse): the order of the `g` packet and of `p`/`P` numbers.
//
// Rule for the architecture: it follows the kernel's ELF class. A 32-bit (Multiboot) kernel gets
// the i386 description — `gdb kernel.elf` + `target remote` then needs no `set architecture`
// (QEMU always describes x86-64, which GDB refuses for an i386 executable) — and its registers
// are the low 32 bits (a kernel that later switches itself to long mode shows truncated
// values: debug it as an ELF64). A 64-bit ELF gets the x86-64 description.
// Pure: converts between kvm_regs/kvm_sregs and the protocol's hex text.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hwbp::vmm::gdb {

enum class Arch : std::uint8_t { i386, x86_64 };

struct RegisterFile {
  kvm_regs regs{};
  kvm_sregs sregs{};
};

// target.xml for qXfer:features:read.
const std::string& target_xml(Arch arch);
// Number of registers in the description, and the bytes of register n (0 if out of range).
unsigned register_count(Arch arch);
unsigned register_size(Arch arch, unsigned n);

// The `g` reply: every register in description order, little-endian hex. Registers hwbp vm does
// not track (x87, SSE) read as their reset values.
std::string encode_registers(Arch arch, const RegisterFile& file);
// Register n as hex (the `p` reply), nullopt for an unknown number.
std::optional<std::string> encode_register(Arch arch, const RegisterFile& file, unsigned n);
// `G` / `P`: false when the text is malformed; registers that cannot be written (x87, SSE) are
// ignored, segment selectors are accepted but do not reload their descriptors.
bool decode_registers(Arch arch, std::string_view hex, RegisterFile& file);
bool decode_register(Arch arch, unsigned n, std::string_view hex, RegisterFile& file);

}  // namespace hwbp::vmm::gdb
