#include "symbols/data_access.hpp"

#include "decode/zydis_support.hpp"

namespace hwbp::symbols {
namespace {

// RegisterFile::gpr order (DWARF) -> decode::Registers (x86 encoding order).
decode::Registers to_decode(const RegisterFile& regs) {
  static constexpr decode::Gpr kDwarf[kDwarfRip] = {decode::rax, decode::rdx, decode::rcx, decode::rbx,
                                                    decode::rsi, decode::rdi, decode::rbp, decode::rsp,
                                                    decode::r8,  decode::r9,  decode::r10, decode::r11,
                                                    decode::r12, decode::r13, decode::r14, decode::r15};
  decode::Registers out;
  for (int i = 0; i < kDwarfRip; ++i) out.gpr[kDwarf[i]] = regs.gpr[std::size_t(i)];
  out.rip = regs.gpr[kDwarfRip];
  out.fs_base = regs.fs_base.value_or(0);
  out.gs_base = regs.gs_base.value_or(0);
  return out;
}

bool is_memory(const ZydisDecodedOperand& op) {
  return op.type == ZYDIS_OPERAND_TYPE_MEMORY && op.mem.type != ZYDIS_MEMOP_TYPE_AGEN;
}

// Does the instruction write a register its memory operand's address depends on? Then the
// registers after it no longer give that address.
bool overwrites_address(const ZydisDecodedOperand* ops, int count, const ZydisDecodedOperand& mem) {
  ZydisRegister base = decode::widest(mem.mem.base), index = decode::widest(mem.mem.index);
  for (int i = 0; i < count; ++i) {
    if (ops[i].type != ZYDIS_OPERAND_TYPE_REGISTER || !(ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
      continue;
    ZydisRegister r = decode::widest(ops[i].reg.value);
    if (r == ZYDIS_REGISTER_RIP) continue;  // rip-relative uses the instruction's own address
    if (r != ZYDIS_REGISTER_NONE && (r == base || r == index)) return true;
  }
  return false;
}

}  // namespace

std::optional<std::vector<DataAccess>> data_accesses(const DecodedInstruction& insn,
                                                     const RegisterFile& regs) {
  decode::Decoded d;
  // 32-bit addressing (an 0x67 prefix, all but unused in 64-bit code) is refused rather than
  // given a second register table.
  if (!decode::decode64(insn.bytes, d) || d.insn.address_width != 64) return std::nullopt;
  decode::Registers at = to_decode(regs);
  at.rip = insn.address;  // rip-relative operands count from the instruction itself
  const decode::SegmentBases bases{regs.fs_base.has_value(), regs.gs_base.has_value()};
  std::vector<DataAccess> out;
  for (int i = 0; i < d.insn.operand_count; ++i) {
    const ZydisDecodedOperand& op = d.ops[i];
    if (!is_memory(op)) continue;
    if (op.visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT || op.mem.type != ZYDIS_MEMOP_TYPE_MEM ||
        op.size == 0 || overwrites_address(d.ops, d.insn.operand_count, op))
      return std::nullopt;
    std::uint64_t addr = 0;
    if (!decode::operand_address(d, op, at, addr, bases)) return std::nullopt;
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
