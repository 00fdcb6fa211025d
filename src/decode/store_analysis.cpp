#include "decode/store_analysis.hpp"

#include <cstring>

#include "decode/zydis_support.hpp"

namespace hwbp::decode {
namespace {

StoreAnalysis unsupported(const char* reason, std::uint8_t length = 0) {
  StoreAnalysis a;
  a.resolution = Resolution::unsupported;
  a.reason = reason;
  a.length = length;
  return a;
}

bool is_real_memory(const ZydisDecodedOperand& op) {
  return op.type == ZYDIS_OPERAND_TYPE_MEMORY && op.mem.type == ZYDIS_MEMOP_TYPE_MEM;
}

bool writes(const ZydisDecodedOperand& op) { return (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0; }

// The one memory operand the instruction writes, or nullptr.
const ZydisDecodedOperand* written_memory(const Decoded& d) {
  for (int i = 0; i < d.insn.operand_count; ++i)
    if (is_real_memory(d.ops[i]) && writes(d.ops[i])) return &d.ops[i];
  return nullptr;
}

// The first explicit operand other than the memory destination: a store's source.
const ZydisDecodedOperand* source_operand(const Decoded& d, const ZydisDecodedOperand* dest) {
  for (int i = 0; i < d.insn.operand_count_visible; ++i)
    if (&d.ops[i] != dest) return &d.ops[i];
  return nullptr;
}

std::uint64_t sign_extend(std::uint64_t v, unsigned bits) {
  if (bits >= 64) return v;
  std::uint64_t m = 1ull << (bits - 1);
  v &= (1ull << bits) - 1;
  return (v ^ m) - m;
}

// Value of a general-register operand (8-bit high registers ah..bh included).
bool gpr_value(ZydisRegister r, const Registers& regs, std::uint64_t& out) {
  switch (r) {
    case ZYDIS_REGISTER_AH: out = (regs.gpr[rax] >> 8) & 0xff; return true;
    case ZYDIS_REGISTER_CH: out = (regs.gpr[rcx] >> 8) & 0xff; return true;
    case ZYDIS_REGISTER_DH: out = (regs.gpr[rdx] >> 8) & 0xff; return true;
    case ZYDIS_REGISTER_BH: out = (regs.gpr[rbx] >> 8) & 0xff; return true;
    default: break;
  }
  int i = gpr_index(r);
  if (i < 0) return false;
  out = regs.gpr[std::size_t(i)];
  return true;
}

// Writes `value` into register r as an instruction writing r would (32-bit writes zero-extend,
// 8/16-bit writes merge).
bool set_gpr(ZydisRegister r, std::uint64_t value, Registers& regs) {
  auto merge = [](std::uint64_t& slot, std::uint64_t v, unsigned shift, unsigned bits) {
    std::uint64_t mask = ((bits == 64) ? ~0ull : ((1ull << bits) - 1)) << shift;
    slot = (slot & ~mask) | ((v << shift) & mask);
  };
  switch (r) {
    case ZYDIS_REGISTER_AH: merge(regs.gpr[rax], value, 8, 8); return true;
    case ZYDIS_REGISTER_CH: merge(regs.gpr[rcx], value, 8, 8); return true;
    case ZYDIS_REGISTER_DH: merge(regs.gpr[rdx], value, 8, 8); return true;
    case ZYDIS_REGISTER_BH: merge(regs.gpr[rbx], value, 8, 8); return true;
    default: break;
  }
  int i = gpr_index(r);
  if (i < 0) return false;
  unsigned bits = ZydisRegisterGetWidth(ZYDIS_MACHINE_MODE_LONG_64, r);
  std::uint64_t& slot = regs.gpr[std::size_t(i)];
  if (bits == 32)
    slot = value & 0xffffffffull;
  else
    merge(slot, value, 0, bits);
  return true;
}

bool is_vector_register(ZydisRegister r) {
  return (r >= ZYDIS_REGISTER_XMM0 && r <= ZYDIS_REGISTER_XMM15) ||
         (r >= ZYDIS_REGISTER_YMM0 && r <= ZYDIS_REGISTER_YMM15);
}

unsigned vector_index(ZydisRegister r) {
  return r >= ZYDIS_REGISTER_YMM0 ? unsigned(r - ZYDIS_REGISTER_YMM0) : unsigned(r - ZYDIS_REGISTER_XMM0);
}

// setcc's condition from rflags (Intel SDM vol. 2, SETcc table).
bool condition(ZydisMnemonic m, std::uint64_t f, bool& known) {
  known = true;
  bool cf = f & kFlagCF, zf = f & kFlagZF, sf = f & kFlagSF, of = f & kFlagOF, pf = f & kFlagPF;
  switch (m) {
    case ZYDIS_MNEMONIC_SETO: return of;
    case ZYDIS_MNEMONIC_SETNO: return !of;
    case ZYDIS_MNEMONIC_SETB: return cf;
    case ZYDIS_MNEMONIC_SETNB: return !cf;
    case ZYDIS_MNEMONIC_SETZ: return zf;
    case ZYDIS_MNEMONIC_SETNZ: return !zf;
    case ZYDIS_MNEMONIC_SETBE: return cf || zf;
    case ZYDIS_MNEMONIC_SETNBE: return !cf && !zf;
    case ZYDIS_MNEMONIC_SETS: return sf;
    case ZYDIS_MNEMONIC_SETNS: return !sf;
    case ZYDIS_MNEMONIC_SETP: return pf;
    case ZYDIS_MNEMONIC_SETNP: return !pf;
    case ZYDIS_MNEMONIC_SETL: return sf != of;
    case ZYDIS_MNEMONIC_SETNL: return sf == of;
    case ZYDIS_MNEMONIC_SETLE: return zf || sf != of;
    case ZYDIS_MNEMONIC_SETNLE: return !zf && sf == of;
    default: known = false; return false;
  }
}

bool is_vector_store(ZydisMnemonic m) {
  switch (m) {
    case ZYDIS_MNEMONIC_MOVAPS: case ZYDIS_MNEMONIC_MOVUPS: case ZYDIS_MNEMONIC_MOVAPD:
    case ZYDIS_MNEMONIC_MOVUPD: case ZYDIS_MNEMONIC_MOVDQA: case ZYDIS_MNEMONIC_MOVDQU:
    case ZYDIS_MNEMONIC_MOVNTDQ: case ZYDIS_MNEMONIC_MOVNTPS: case ZYDIS_MNEMONIC_MOVNTPD:
    case ZYDIS_MNEMONIC_MOVQ: case ZYDIS_MNEMONIC_MOVD: case ZYDIS_MNEMONIC_MOVSS:
    case ZYDIS_MNEMONIC_MOVSD: case ZYDIS_MNEMONIC_MOVLPS: case ZYDIS_MNEMONIC_MOVLPD:
    case ZYDIS_MNEMONIC_VMOVAPS: case ZYDIS_MNEMONIC_VMOVUPS: case ZYDIS_MNEMONIC_VMOVAPD:
    case ZYDIS_MNEMONIC_VMOVUPD: case ZYDIS_MNEMONIC_VMOVDQA: case ZYDIS_MNEMONIC_VMOVDQU:
    case ZYDIS_MNEMONIC_VMOVNTDQ: case ZYDIS_MNEMONIC_VMOVNTPS: case ZYDIS_MNEMONIC_VMOVNTPD:
    case ZYDIS_MNEMONIC_VMOVQ: case ZYDIS_MNEMONIC_VMOVD: case ZYDIS_MNEMONIC_VMOVSS:
    case ZYDIS_MNEMONIC_VMOVSD: case ZYDIS_MNEMONIC_VMOVLPS: case ZYDIS_MNEMONIC_VMOVLPD:
      return true;
    default:
      return false;
  }
}

struct Context {
  const Decoded& d;
  const Registers& before;
  const VectorState& vectors;
  const MemoryReader& memory;
  const Options& options;
  StoreAnalysis a;

  Context(const Decoded& dd, const Registers& r, const VectorState& v, const MemoryReader& m,
          const Options& o)
      : d(dd), before(r), vectors(v), memory(m), options(o) {
    a.length = d.insn.length;
    a.emulation.after = before;
    a.emulation.after.rip = before.rip + d.insn.length;
  }

  StoreAnalysis& emulate_bytes(std::uint64_t addr, std::uint64_t size, const void* bytes) {
    a.resolution = Resolution::emulate;
    a.write = {addr, size};
    a.emulation.source = Source::bytes;
    std::memcpy(a.emulation.bytes.data(), bytes, size);
    return a;
  }
  StoreAnalysis& emulate_value(std::uint64_t addr, std::uint64_t size, std::uint64_t value) {
    return emulate_bytes(addr, size, &value);  // little-endian
  }
  StoreAnalysis& fail(const char* reason) {
    a.resolution = Resolution::unsupported;
    a.reason = reason;
    return a;
  }
  bool address(const ZydisDecodedOperand& op, std::uint64_t& out) const {
    return operand_address(d, op, before, out);
  }
  // Pushes `size` bytes of `value`: the write and rsp after.
  StoreAnalysis& push(std::uint64_t value, unsigned size) {
    std::uint64_t sp = before.gpr[rsp] - size;
    a.emulation.after.gpr[rsp] = sp;
    return emulate_value(sp, size, value);
  }
};

StoreAnalysis& analyze_mov(Context& c, const ZydisDecodedOperand& dest) {
  const ZydisDecodedOperand* src = source_operand(c.d, &dest);
  std::uint64_t addr = 0, value = 0;
  if (src == nullptr || !c.address(dest, addr)) return c.fail("memory operand address not computable");
  unsigned size = dest.size / 8;
  if (src->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
    value = src->imm.is_signed ? sign_extend(std::uint64_t(src->imm.value.s), src->size ? src->size : 64)
                               : src->imm.value.u;
    return c.emulate_value(addr, size, value);
  }
  if (src->type == ZYDIS_OPERAND_TYPE_REGISTER && gpr_value(src->reg.value, c.before, value))
    return c.emulate_value(addr, size, value);
  return c.fail("mov source is not a general register or an immediate");
}

StoreAnalysis& analyze_vector_store(Context& c, const ZydisDecodedOperand& dest) {
  const ZydisDecodedOperand* src = source_operand(c.d, &dest);
  std::uint64_t addr = 0;
  unsigned size = dest.size / 8;
  std::uint8_t bytes[32];
  if (src == nullptr || src->type != ZYDIS_OPERAND_TYPE_REGISTER || size == 0 || size > 32 ||
      !c.address(dest, addr))
    return c.fail("vector store operands not understood");
  if (is_vector_register(src->reg.value)) {
    if (!c.vectors.read(vector_index(src->reg.value), size, bytes)) return c.fail("vector register state not available");
    return c.emulate_bytes(addr, size, bytes);
  }
  std::uint64_t value = 0;  // movd/movq from a general register cannot target memory; be safe
  if (gpr_value(src->reg.value, c.before, value)) return c.emulate_value(addr, size, value);
  return c.fail("vector store source not understood");
}

// stos/movs with or without rep, in batches (see Options::max_string_bytes).
StoreAnalysis& analyze_string(Context& c, unsigned element, bool copy) {
  const bool rep = (c.d.insn.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE)) != 0;
  const bool down = (c.before.rflags & kFlagDF) != 0;
  Registers& after = c.a.emulation.after;
  std::uint64_t count = rep ? c.before.gpr[rcx] : 1;
  std::uint64_t n = count;
  std::uint64_t cap = c.options.max_string_bytes / element;
  if (cap == 0) cap = 1;
  if (n > cap) n = cap;
  const std::uint64_t dst = c.before.gpr[rdi], src = c.before.gpr[rsi];
  if (copy && n > 1) {
    // A sequential copy reads bytes it wrote earlier when the destination runs ahead of the
    // source within the range: limit the batch to the distance so a snapshot copy is exact.
    std::uint64_t gap = down ? src - dst : dst - src;  // wraps to huge when not ahead
    if (gap < n * element) n = gap / element == 0 ? 1 : gap / element;
  }
  std::uint64_t bytes = n * element;
  std::int64_t step = down ? -std::int64_t(bytes) : std::int64_t(bytes);
  c.a.resolution = Resolution::emulate;
  c.a.write = {down ? dst - bytes + element : dst, bytes};
  c.a.emulation.element_size = std::uint8_t(element);
  after.gpr[rdi] = dst + std::uint64_t(step);
  if (copy) {
    c.a.emulation.source = Source::copy;
    c.a.emulation.copy_from = down ? src - bytes + element : src;
    after.gpr[rsi] = src + std::uint64_t(step);
  } else {
    c.a.emulation.source = Source::fill;
    c.a.emulation.fill_value = c.before.gpr[rax];
  }
  if (rep) {
    after.gpr[rcx] = count - n;
    if (count - n != 0) after.rip = c.before.rip;  // an interrupted rep: resumes here
  }
  if (count == 0) c.a.write = {dst, 0};
  return c.a;
}

StoreAnalysis& analyze_call(Context& c) {
  const ZydisDecodedOperand& target = c.d.ops[0];
  std::uint64_t next = c.before.rip + c.d.insn.length, dest = 0;
  if (target.type == ZYDIS_OPERAND_TYPE_IMMEDIATE && target.imm.is_relative) {
    dest = next + std::uint64_t(target.imm.value.s);
  } else if (target.type == ZYDIS_OPERAND_TYPE_REGISTER) {
    if (!gpr_value(target.reg.value, c.before, dest)) return c.fail("call through an unknown register");
  } else if (is_real_memory(target)) {
    std::uint64_t addr = 0;
    if (!c.address(target, addr) || !c.memory(addr, &dest, 8)) return c.fail("call target not readable");
  } else {
    return c.fail("far call");
  }
  c.push(next, 8);
  c.a.emulation.after.rip = dest;
  return c.a;
}

StoreAnalysis& analyze_push(Context& c) {
  const ZydisDecodedOperand& src = c.d.ops[0];
  unsigned size = c.d.insn.operand_width / 8;
  std::uint64_t value = 0;
  if (src.type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
    value = sign_extend(std::uint64_t(src.imm.value.s), 64);
  } else if (src.type == ZYDIS_OPERAND_TYPE_REGISTER) {
    if (!gpr_value(src.reg.value, c.before, value)) return c.fail("push of a segment register");
  } else if (is_real_memory(src)) {
    std::uint64_t addr = 0;
    if (!c.address(src, addr) || !c.memory(addr, &value, size)) return c.fail("push source not readable");
  } else {
    return c.fail("push operand not understood");
  }
  return c.push(value, size);
}

StoreAnalysis& analyze_pop_memory(Context& c, const ZydisDecodedOperand& dest) {
  unsigned size = dest.size / 8;
  std::uint64_t value = 0, addr = 0;
  if (!c.memory(c.before.gpr[rsp], &value, size)) return c.fail("stack not readable");
  // "If the ESP register is used as a base register for addressing a destination operand in
  // memory, the POP instruction computes the effective address after it increments the ESP
  // register" (Intel SDM vol. 2, POP).
  Registers incremented = c.before;
  incremented.gpr[rsp] += size;
  if (!operand_address(c.d, dest, incremented, addr)) return c.fail("memory operand address not computable");
  c.a.emulation.after.gpr[rsp] = incremented.gpr[rsp];
  return c.emulate_value(addr, size, value);
}

StoreAnalysis& analyze_xchg(Context& c, const ZydisDecodedOperand& dest) {
  const ZydisDecodedOperand* reg = source_operand(c.d, &dest);
  std::uint64_t addr = 0, value = 0, old = 0;
  unsigned size = dest.size / 8;
  if (reg == nullptr || reg->type != ZYDIS_OPERAND_TYPE_REGISTER || !gpr_value(reg->reg.value, c.before, value) ||
      !c.address(dest, addr))
    return c.fail("xchg operands not understood");
  if (!c.memory(addr, &old, size)) return c.fail("xchg memory not readable");
  set_gpr(reg->reg.value, old, c.a.emulation.after);
  return c.emulate_value(addr, size, value);
}

StoreAnalysis& analyze_setcc(Context& c, const ZydisDecodedOperand& dest) {
  bool known = false;
  std::uint64_t addr = 0;
  bool v = condition(c.d.insn.mnemonic, c.before.rflags, known);
  if (!known || !c.address(dest, addr)) return c.fail("setcc not understood");
  return c.emulate_value(addr, 1, v ? 1 : 0);
}

// bts/btr/btc on memory. A register bit offset addresses memory beyond the operand (Intel SDM
// vol. 2, BT: "bit offset ... -2^63 to 2^63-1"), which a displaced operand could not cover.
StoreAnalysis& analyze_bit(Context& c, const ZydisDecodedOperand& dest) {
  const ZydisDecodedOperand* off = source_operand(c.d, &dest);
  std::uint64_t addr = 0;
  unsigned bits = dest.size;
  if (off == nullptr || !c.address(dest, addr) || bits == 0) return c.fail("bit operand not understood");
  std::int64_t bit = 0;
  if (off->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
    bit = std::int64_t(off->imm.value.u % bits);
  } else {
    std::uint64_t r = 0;
    if (!gpr_value(off->reg.value, c.before, r)) return c.fail("bit offset register not understood");
    bit = std::int64_t(sign_extend(r, off->size));
    std::int64_t unit = std::int64_t(bits);
    std::int64_t q = bit >= 0 ? bit / unit : -((-bit + unit - 1) / unit);
    addr += std::uint64_t(q * std::int64_t(bits / 8));
    bit -= q * unit;
  }
  std::uint64_t old = 0;
  if (!c.memory(addr, &old, bits / 8)) return c.fail("bit operand memory not readable");
  std::uint64_t mask = 1ull << bit, value = old;
  switch (c.d.insn.mnemonic) {
    case ZYDIS_MNEMONIC_BTS: value |= mask; break;
    case ZYDIS_MNEMONIC_BTR: value &= ~mask; break;
    default: value ^= mask; break;
  }
  // CF = the old bit; OF, SF, AF, PF undefined, ZF unchanged (SDM): keep them as they were.
  std::uint64_t& fl = c.a.emulation.after.rflags;
  fl = (fl & ~kFlagCF) | ((old & mask) ? kFlagCF : 0);
  return c.emulate_value(addr, bits / 8, value);
}

StoreAnalysis& analyze_displaced(Context& c, const ZydisDecodedOperand& dest) {
  std::uint64_t addr = 0;
  if (dest.mem.index != ZYDIS_REGISTER_NONE && gpr_index(dest.mem.index) < 0)
    return c.fail("scatter store (vector-indexed memory operand)");
  for (int i = 0; i < c.d.insn.operand_count; ++i) {
    const ZydisDecodedOperand& op = c.d.ops[i];
    if (&op != &dest && is_real_memory(op)) return c.fail("second memory operand");
    if (op.type == ZYDIS_OPERAND_TYPE_REGISTER && widest(op.reg.value) == ZYDIS_REGISTER_RSP &&
        op.visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT)
      return c.fail("implicit stack operand");
  }
  if (!c.address(dest, addr)) return c.fail("memory operand address not computable");
  unsigned size = dest.size / 8;
  if (size == 0 || size > 4096) return c.fail("memory operand of unknown size");
  c.a.resolution = Resolution::displace;
  c.a.write = {addr, size};
  Displacement& dp = c.a.displacement;
  dp.operand_addr = addr;
  dp.operand_size = size;
  dp.next_rip = c.before.rip + c.d.insn.length;
  if (c.options.scratch_code == 0) return c.a;
  dp.data_addr = c.options.scratch_data + (addr % 64);
  ZydisEncoderRequest req;
  std::memset(&req, 0, sizeof req);
  if (!ZYAN_SUCCESS(ZydisEncoderDecodedInstructionToEncoderRequest(&c.d.insn, c.d.ops,
                                                                   c.d.insn.operand_count_visible, &req)))
    return c.fail("instruction cannot be re-encoded");
  bool replaced = false;
  for (int i = 0; i < req.operand_count; ++i) {
    ZydisEncoderOperand& op = req.operands[i];
    if (op.type != ZYDIS_OPERAND_TYPE_MEMORY) continue;
    op.mem.base = ZYDIS_REGISTER_RIP;
    op.mem.index = ZYDIS_REGISTER_NONE;
    op.mem.scale = 0;
    op.mem.displacement = std::int64_t(dp.data_addr);  // absolute: EncodeInstructionAbsolute
    replaced = true;
  }
  // The segment override made the real address; the scratch address is flat.
  req.prefixes &= ~ZydisInstructionAttributes(ZYDIS_ATTRIB_HAS_SEGMENT);
  ZyanUSize len = dp.code.size();
  if (!replaced || !ZYAN_SUCCESS(ZydisEncoderEncodeInstructionAbsolute(&req, dp.code.data(), &len,
                                                                       c.options.scratch_code)))
    return c.fail("instruction cannot be re-encoded rip-relative");
  dp.code_length = std::uint8_t(len);
  return c.a;
}

}  // namespace

const char* to_string(Resolution r) noexcept {
  switch (r) {
    case Resolution::emulate: return "emulate";
    case Resolution::displace: return "displace";
    case Resolution::unsupported: return "unsupported";
    case Resolution::no_write: return "no_write";
  }
  return "?";
}

StoreAnalysis analyze_store(std::span<const std::uint8_t> code, const Registers& before,
                            const VectorState& vectors, const MemoryReader& memory,
                            const Options& options) noexcept {
  Decoded d;
  if (!decode64(code, d)) return unsupported("instruction does not decode");
  if (d.insn.address_width != 64) return unsupported("32-bit addressing (0x67 prefix)", d.insn.length);
  Context c(d, before, vectors, memory, options);
  const ZydisMnemonic m = d.insn.mnemonic;
  switch (m) {
    case ZYDIS_MNEMONIC_STOSB: return analyze_string(c, 1, false);
    case ZYDIS_MNEMONIC_STOSW: return analyze_string(c, 2, false);
    case ZYDIS_MNEMONIC_STOSD: return analyze_string(c, 4, false);
    case ZYDIS_MNEMONIC_STOSQ: return analyze_string(c, 8, false);
    case ZYDIS_MNEMONIC_MOVSB: return analyze_string(c, 1, true);
    case ZYDIS_MNEMONIC_MOVSW: return analyze_string(c, 2, true);
    case ZYDIS_MNEMONIC_MOVSQ: return analyze_string(c, 8, true);
    case ZYDIS_MNEMONIC_MOVSD:
      if (d.insn.operand_count_visible == 0 || d.ops[0].type != ZYDIS_OPERAND_TYPE_MEMORY ||
          d.ops[0].visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT)
        return analyze_string(c, 4, true);  // the string movsd, not SSE's
      break;
    case ZYDIS_MNEMONIC_CALL: return analyze_call(c);
    case ZYDIS_MNEMONIC_PUSH: return analyze_push(c);
    case ZYDIS_MNEMONIC_PUSHFQ:
      return c.push(before.rflags & ~(kFlagRF | kFlagVM), 8);  // SDM: RF and VM are pushed clear
    default: break;
  }
  const ZydisDecodedOperand* dest = written_memory(d);
  if (dest == nullptr) {
    for (int i = 0; i < d.insn.operand_count; ++i)
      if (d.ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && writes(d.ops[i]))
        return c.fail(d.ops[i].mem.type == ZYDIS_MEMOP_TYPE_VSIB ? "scatter store (vector-indexed memory operand)"
                                                                 : "writes memory in a way not analysed (e.g. enter)");
    c.a.resolution = Resolution::no_write;
    return c.a;
  }
  if (dest->visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT)
    return c.fail("implicit memory destination (enter, maskmovdqu, ...)");
  const bool evex = d.insn.encoding == ZYDIS_INSTRUCTION_ENCODING_EVEX;
  switch (m) {
    case ZYDIS_MNEMONIC_MOV:
    case ZYDIS_MNEMONIC_MOVNTI:
      return analyze_mov(c, *dest);
    case ZYDIS_MNEMONIC_POP: return analyze_pop_memory(c, *dest);
    case ZYDIS_MNEMONIC_XCHG: return analyze_xchg(c, *dest);
    case ZYDIS_MNEMONIC_BTS:
    case ZYDIS_MNEMONIC_BTR:
    case ZYDIS_MNEMONIC_BTC:
      return analyze_bit(c, *dest);
    default: break;
  }
  if (m >= ZYDIS_MNEMONIC_SETB && m <= ZYDIS_MNEMONIC_SETZ && m != ZYDIS_MNEMONIC_SETSSBSY)
    return analyze_setcc(c, *dest);
  if (is_vector_store(m) && !evex) {
    StoreAnalysis& a = analyze_vector_store(c, *dest);
    if (a.resolution == Resolution::emulate) return a;
    c.a = StoreAnalysis{};  // fall back to the displaced step (its registers are live)
    c.a.length = d.insn.length;
  }
  return analyze_displaced(c, *dest);
}

void render_fill(const Emulation& e, std::uint64_t offset, std::uint8_t* out, std::size_t len) noexcept {
  if (e.source == Source::bytes) {
    std::memcpy(out, e.bytes.data() + offset, len);
    return;
  }
  const unsigned el = e.element_size ? e.element_size : 1;
  for (std::size_t i = 0; i < len; ++i)
    out[i] = std::uint8_t(e.fill_value >> (8 * ((offset + i) % el)));
}

}  // namespace hwbp::decode
