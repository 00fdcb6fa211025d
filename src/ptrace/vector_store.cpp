#include "ptrace/vector_store.hpp"

#include <Zydis/Zydis.h>

namespace hwbp::ptrace {

bool stores_vector_register(std::span<const std::uint8_t> code) noexcept {
  ZydisDecoder decoder;
  if (ZYAN_FAILED(ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64))) return false;
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  if (ZYAN_FAILED(ZydisDecoderDecodeFull(&decoder, code.data(), code.size(), &insn, ops))) return false;
  // decode::analyze_store emulates legacy-SSE and VEX stores (xmm/ymm); EVEX ones (glibc's
  // memcpy/memset on AVX-512 machines use ymm16-31) are displaced whatever the state says.
  if (insn.encoding == ZYDIS_INSTRUCTION_ENCODING_EVEX) return false;
  bool writes_memory = false, vector_source = false;
  for (unsigned i = 0; i < insn.operand_count_visible; ++i) {
    const ZydisDecodedOperand& op = ops[i];
    if (op.type == ZYDIS_OPERAND_TYPE_MEMORY && (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
      writes_memory = true;
    if (op.type == ZYDIS_OPERAND_TYPE_REGISTER) {
      ZydisRegisterClass c = ZydisRegisterGetClass(op.reg.value);
      if (c == ZYDIS_REGCLASS_XMM || c == ZYDIS_REGCLASS_YMM || c == ZYDIS_REGCLASS_ZMM) vector_source = true;
    }
  }
  return writes_memory && vector_source;
}

}  // namespace hwbp::ptrace
