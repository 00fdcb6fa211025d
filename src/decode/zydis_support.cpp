#include "decode/zydis_support.hpp"

namespace hwbp::decode {

bool decode64(std::span<const std::uint8_t> code, Decoded& out) noexcept {
  ZydisDecoder decoder;
  ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  return !code.empty() &&
         ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder, code.data(), code.size(), &out.insn, out.ops));
}

ZydisRegister zydis_gpr(Gpr r) noexcept {
  static constexpr ZydisRegister kMap[16] = {
      ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_RCX, ZYDIS_REGISTER_RDX, ZYDIS_REGISTER_RBX,
      ZYDIS_REGISTER_RSP, ZYDIS_REGISTER_RBP, ZYDIS_REGISTER_RSI, ZYDIS_REGISTER_RDI,
      ZYDIS_REGISTER_R8,  ZYDIS_REGISTER_R9,  ZYDIS_REGISTER_R10, ZYDIS_REGISTER_R11,
      ZYDIS_REGISTER_R12, ZYDIS_REGISTER_R13, ZYDIS_REGISTER_R14, ZYDIS_REGISTER_R15};
  return kMap[r & 15];
}

ZydisRegister widest(ZydisRegister r) noexcept {
  return r == ZYDIS_REGISTER_NONE ? r : ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
}

int gpr_index(ZydisRegister r) noexcept {
  ZydisRegister w = widest(r);
  for (int i = 0; i < 16; ++i)
    if (zydis_gpr(static_cast<Gpr>(i)) == w) return i;
  return -1;
}

bool operand_address(const Decoded& d, const ZydisDecodedOperand& op, const Registers& regs,
                     std::uint64_t& out, SegmentBases bases) noexcept {
  if (op.type != ZYDIS_OPERAND_TYPE_MEMORY || d.insn.address_width != 64) return false;
  ZydisRegisterContext context{};
  for (int i = 0; i < 16; ++i) context.values[zydis_gpr(static_cast<Gpr>(i))] = regs.gpr[std::size_t(i)];
  context.values[ZYDIS_REGISTER_RIP] = regs.rip;
  ZyanU64 addr = 0;
  if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddressEx(&d.insn, &op, regs.rip, &context, &addr))) return false;
  if (op.mem.segment == ZYDIS_REGISTER_FS) {
    if (!bases.fs_known) return false;
    addr += regs.fs_base;
  } else if (op.mem.segment == ZYDIS_REGISTER_GS) {
    if (!bases.gs_known) return false;
    addr += regs.gs_base;
  }
  out = addr;
  return true;
}

}  // namespace hwbp::decode
