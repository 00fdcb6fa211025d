// Zydis glue shared by the decode module and by symbols/data_access (the only users of Zydis
// types; the public decode headers stay Zydis-free).
#pragma once

#include <Zydis/Zydis.h>

#include <cstdint>
#include <span>

#include "decode/registers.hpp"

namespace hwbp::decode {

struct Decoded {
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
};

// 64-bit mode decoding of the instruction at code[0]; false if it does not decode.
bool decode64(std::span<const std::uint8_t> code, Decoded& out) noexcept;

ZydisRegister zydis_gpr(Gpr r) noexcept;
// The 64-bit register enclosing r (eax -> rax), or NONE.
ZydisRegister widest(ZydisRegister r) noexcept;
// Index of a general register (any width) in Registers::gpr, or -1.
int gpr_index(ZydisRegister r) noexcept;

// Segment bases an address may need: unknown ones make fs/gs operands fail.
struct SegmentBases {
  bool fs_known = true, gs_known = true;
};

// Linear address of memory operand `op`, with rip = the instruction's address and fs/gs bases
// added. False for 32-bit addressing and for unknown segment bases.
bool operand_address(const Decoded& d, const ZydisDecodedOperand& op, const Registers& regs,
                     std::uint64_t& out, SegmentBases bases = {}) noexcept;

}  // namespace hwbp::decode
