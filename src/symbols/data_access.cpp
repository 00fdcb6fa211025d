#include "symbols/data_access.hpp"

#include <Zydis/Zydis.h>

namespace hwbp::symbols {
namespace {

// RegisterFile::gpr order (DWARF) as Zydis registers.
constexpr ZydisRegister kGpr[kDwarfRegisters] = {
    ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_RDX, ZYDIS_REGISTER_RCX, ZYDIS_REGISTER_RBX,
    ZYDIS_REGISTER_RSI, ZYDIS_REGISTER_RDI, ZYDIS_REGISTER_RBP, ZYDIS_REGISTER_RSP,
    ZYDIS_REGISTER_R8,  ZYDIS_REGISTER_R9,  ZYDIS_REGISTER_R10, ZYDIS_REGISTER_R11,
    ZYDIS_REGISTER_R12, ZYDIS_REGISTER_R13, ZYDIS_REGISTER_R14, ZYDIS_REGISTER_R15,
    ZYDIS_REGISTER_RIP};

ZydisRegister widest(ZydisRegister r) {
  return r == ZYDIS_REGISTER_NONE ? r : ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
}

bool is_memory(const ZydisDecodedOperand& op) {
  return op.type == ZYDIS_OPERAND_TYPE_MEMORY && op.mem.type != ZYDIS_MEMOP_TYPE_AGEN;
}

// Does the instruction write a register its memory operand's address depends on? Then the
// registers after it no longer give that address.
bool overwrites_address(const ZydisDecodedOperand* ops, int count, const ZydisDecodedOperand& mem) {
  ZydisRegister base = widest(mem.mem.base), index = widest(mem.mem.index);
  for (int i = 0; i < count; ++i) {
    if (ops[i].type != ZYDIS_OPERAND_TYPE_REGISTER || !(ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
      continue;
    ZydisRegister r = widest(ops[i].reg.value);
    if (r == ZYDIS_REGISTER_RIP) continue;  // rip-relative uses the instruction's own address
    if (r != ZYDIS_REGISTER_NONE && (r == base || r == index)) return true;
  }
  return false;
}

}  // namespace

std::optional<std::vector<DataAccess>> data_accesses(const DecodedInstruction& insn,
                                                     const RegisterFile& regs) {
  ZydisDecoder decoder;
  ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  ZydisDecodedInstruction zi;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  // 32-bit addressing (an 0x67 prefix, all but unused in 64-bit code) is refused rather than
  // given a second register table.
  if (insn.bytes.empty() ||
      !ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder, insn.bytes.data(), insn.bytes.size(), &zi, ops)) ||
      zi.address_width != 64)
    return std::nullopt;
  ZydisRegisterContext context{};
  for (std::size_t i = 0; i < kDwarfRegisters; ++i) context.values[kGpr[i]] = regs.gpr[i];
  std::vector<DataAccess> out;
  for (int i = 0; i < zi.operand_count; ++i) {
    const ZydisDecodedOperand& op = ops[i];
    if (!is_memory(op)) continue;
    if (op.visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT || op.mem.type != ZYDIS_MEMOP_TYPE_MEM ||
        op.size == 0 || overwrites_address(ops, zi.operand_count, op))
      return std::nullopt;
    ZyanU64 addr = 0;
    if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddressEx(&zi, &op, insn.address, &context, &addr)))
      return std::nullopt;
    if (op.mem.segment == ZYDIS_REGISTER_FS || op.mem.segment == ZYDIS_REGISTER_GS) {
      const auto& base = op.mem.segment == ZYDIS_REGISTER_FS ? regs.fs_base : regs.gs_base;
      if (!base) return std::nullopt;
      addr += *base;
    }
    DataAccess a;
    a.addr = addr;
    a.size = static_cast<std::uint32_t>((op.size + 7) / 8);
    a.read = (op.actions & ZYDIS_OPERAND_ACTION_MASK_READ) != 0;
    a.write = (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0;
    out.push_back(a);
  }
  return out;
}

}  // namespace hwbp::symbols
