#include "symbols/instruction_decoder.hpp"

#include <Zydis/Zydis.h>

namespace hwbp::symbols {
namespace {

// Zydis objects are plain structs with no resources; one decoder/formatter per call keeps this
// thread-safe at negligible cost.
struct Zydis {
  ZydisDecoder decoder;
  ZydisFormatter formatter;
  explicit Zydis(CodeMode mode) {
    if (mode == CodeMode::i386)
      ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
    else
      ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    ZydisFormatterInit(&formatter, ZYDIS_FORMATTER_STYLE_INTEL);
    ZydisFormatterSetProperty(&formatter, ZYDIS_FORMATTER_PROP_HEX_UPPERCASE, ZYAN_FALSE);
  }
};

bool is_memory_access(const ZydisDecodedOperand& op) {
  // AGEN is lea (address computation only), MIB is bndldx/bndstx addressing.
  return op.type == ZYDIS_OPERAND_TYPE_MEMORY &&
         (op.mem.type == ZYDIS_MEMOP_TYPE_MEM || op.mem.type == ZYDIS_MEMOP_TYPE_VSIB);
}

DecodedInstruction describe(const Zydis& z, const ZydisDecodedInstruction& insn,
                            const ZydisDecodedOperand* ops, std::uint64_t address) {
  DecodedInstruction out;
  out.address = address;
  out.length = insn.length;
  char text[256];
  if (ZYAN_SUCCESS(ZydisFormatterFormatInstruction(&z.formatter, &insn, ops,
                                                   insn.operand_count_visible, text, sizeof text,
                                                   ZYDIS_RUNTIME_ADDRESS_NONE, nullptr)))
    out.text = text;
  for (ZyanU8 i = 0; i < insn.operand_count; ++i) {
    if (!is_memory_access(ops[i])) continue;
    out.accesses_memory = true;
    ZyanU64 abs = 0;
    if (ops[i].visibility == ZYDIS_OPERAND_VISIBILITY_EXPLICIT && !out.memory_address &&
        ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[i], address, &abs)))
      out.memory_address = abs;
  }
  return out;
}

}  // namespace

std::optional<DecodedInstruction> decode_instruction(std::span<const std::uint8_t> code,
                                                     std::uint64_t address, CodeMode mode) {
  Zydis z(mode);
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&z.decoder, code.data(), code.size(), &insn, ops)))
    return std::nullopt;
  DecodedInstruction out = describe(z, insn, ops, address);
  out.bytes.assign(code.begin(), code.begin() + insn.length);
  return out;
}

std::optional<DecodedInstruction> find_instruction_ending_at(std::span<const std::uint8_t> code,
                                                             std::uint64_t base,
                                                             std::uint64_t end_ip,
                                                             CodeMode mode) {
  if (end_ip <= base || end_ip - base > code.size()) return std::nullopt;
  Zydis z(mode);
  ZydisDecodedInstruction insn;
  std::uint64_t pos = 0;
  const std::uint64_t target = end_ip - base;
  // Only lengths are needed on the way; full operand decoding happens once, at the end.
  while (pos < target) {
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&z.decoder, nullptr, code.data() + pos,
                                                    code.size() - pos, &insn)))
      return std::nullopt;
    if (pos + insn.length == target) return decode_instruction(code.subspan(pos), base + pos, mode);
    pos += insn.length;
  }
  return std::nullopt;  // stepped over end_ip: it is not an instruction boundary
}

}  // namespace hwbp::symbols
