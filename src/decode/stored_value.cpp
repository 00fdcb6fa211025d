#include "decode/stored_value.hpp"

#include <algorithm>
#include <cstring>

#include "decode/zydis_support.hpp"

namespace hwbp::decode {
namespace {

bool register_value(ZydisRegister r, const Registers& regs, std::uint64_t& out) {
  switch (r) {
    case ZYDIS_REGISTER_AH: out = regs.gpr[rax] >> 8; return true;
    case ZYDIS_REGISTER_CH: out = regs.gpr[rcx] >> 8; return true;
    case ZYDIS_REGISTER_DH: out = regs.gpr[rdx] >> 8; return true;
    case ZYDIS_REGISTER_BH: out = regs.gpr[rbx] >> 8; return true;
    default: break;
  }
  int i = gpr_index(r);
  if (i < 0) return false;
  out = regs.gpr[std::size_t(i)];
  return true;
}

// The instruction writes a register its address uses: the address is lost after it.
bool address_clobbered(const Decoded& d, const ZydisDecodedOperand& mem) {
  ZydisRegister base = widest(mem.mem.base), index = widest(mem.mem.index);
  for (int i = 0; i < d.insn.operand_count; ++i) {
    const ZydisDecodedOperand& op = d.ops[i];
    if (op.type != ZYDIS_OPERAND_TYPE_REGISTER || !(op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)) continue;
    ZydisRegister r = widest(op.reg.value);
    if (r != ZYDIS_REGISTER_RIP && r != ZYDIS_REGISTER_NONE && (r == base || r == index)) return true;
  }
  return false;
}

void put(std::array<std::uint8_t, 32>& out, std::uint64_t v) { std::memcpy(out.data(), &v, 8); }

// Stack and string instructions write memory without an explicit memory operand.
bool writes_implicit_memory(const Decoded& d) {
  for (int i = 0; i < d.insn.operand_count; ++i)
    if (d.ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && (d.ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
      return true;
  return false;
}

}  // namespace

std::uint64_t apply_rmw(Rmw op, std::uint64_t old, std::uint64_t operand, unsigned size) noexcept {
  std::uint64_t v = old;
  switch (op) {
    case Rmw::none: break;
    case Rmw::add: v = old + operand; break;
    case Rmw::sub: v = old - operand; break;
    case Rmw::bit_and: v = old & operand; break;
    case Rmw::bit_or: v = old | operand; break;
    case Rmw::bit_xor: v = old ^ operand; break;
    case Rmw::bit_not: v = ~old; break;
    case Rmw::neg: v = 0 - old; break;
  }
  return size >= 8 ? v : v & ((std::uint64_t{1} << (8 * size)) - 1);
}

StoredValue stored_value_after(std::span<const std::uint8_t> code, std::uint64_t insn_address,
                               const Registers& regs_after, const VectorState& vectors_after) noexcept {
  StoredValue out;
  Decoded d;
  if (!decode64(code, d) || d.insn.address_width != 64) return out;
  Registers at = regs_after;
  at.rip = insn_address;
  const ZydisMnemonic m = d.insn.mnemonic;
  if (m == ZYDIS_MNEMONIC_PUSH || m == ZYDIS_MNEMONIC_CALL) {
    unsigned size = m == ZYDIS_MNEMONIC_CALL ? 8 : d.insn.operand_width / 8;
    out.address_known = true;
    out.write = {regs_after.gpr[rsp], size};
    std::uint64_t v = 0;
    const ZydisDecodedOperand& src = d.ops[0];
    if (m == ZYDIS_MNEMONIC_CALL) {
      v = insn_address + d.insn.length;
    } else if (src.type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
      v = std::uint64_t(src.imm.value.s);
    } else if (src.type != ZYDIS_OPERAND_TYPE_REGISTER || widest(src.reg.value) == ZYDIS_REGISTER_RSP ||
               !register_value(src.reg.value, regs_after, v)) {
      return out;
    }
    put(out.new_bytes, v);
    out.new_known = true;
    return out;
  }
  const ZydisDecodedOperand* dest = nullptr;
  const ZydisDecodedOperand* src = nullptr;
  for (int i = 0; i < d.insn.operand_count_visible; ++i) {
    const ZydisDecodedOperand& op = d.ops[i];
    if (op.type == ZYDIS_OPERAND_TYPE_MEMORY && op.mem.type == ZYDIS_MEMOP_TYPE_MEM &&
        (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
      dest = &op;
    else if (src == nullptr)
      src = &op;
  }
  if (dest == nullptr) {
    // Nothing written through an explicit operand: a load, unless a string or stack
    // instruction writes through a hidden one (those stay unknown here).
    out.no_write = !writes_implicit_memory(d);
    return out;
  }
  if (dest->size == 0 || dest->size > 256) return out;
  unsigned size = dest->size / 8;
  out.write.size = size;
  if (!address_clobbered(d, *dest)) out.address_known = operand_address(d, *dest, at, out.write.addr);
  std::uint64_t v = 0;
  switch (m) {
    case ZYDIS_MNEMONIC_MOV:
    case ZYDIS_MNEMONIC_MOVNTI:
      if (src == nullptr) return out;
      if (src->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) v = std::uint64_t(src->imm.value.s);
      else if (src->type != ZYDIS_OPERAND_TYPE_REGISTER || !register_value(src->reg.value, regs_after, v)) return out;
      put(out.new_bytes, v);
      out.new_known = true;
      return out;
    case ZYDIS_MNEMONIC_XCHG:
    case ZYDIS_MNEMONIC_XADD:
      if (src == nullptr || src->type != ZYDIS_OPERAND_TYPE_REGISTER || !register_value(src->reg.value, regs_after, v))
        return out;
      put(out.old_bytes, v);
      out.old_known = true;
      return out;
    case ZYDIS_MNEMONIC_CMPXCHG:
      if (src == nullptr || src->type != ZYDIS_OPERAND_TYPE_REGISTER) return out;
      if (regs_after.rflags & kFlagZF) {
        if (!register_value(src->reg.value, regs_after, v)) return out;
        put(out.new_bytes, v);
        put(out.old_bytes, regs_after.gpr[rax]);  // equal to the accumulator, which is unchanged
        out.old_known = true;
      } else {
        put(out.new_bytes, regs_after.gpr[rax]);  // the old value, written back and loaded
        out.old_bytes = out.new_bytes;
        out.old_known = true;
      }
      out.new_known = true;
      return out;
    case ZYDIS_MNEMONIC_ADD: out.rmw = Rmw::add; break;
    case ZYDIS_MNEMONIC_SUB: out.rmw = Rmw::sub; break;
    case ZYDIS_MNEMONIC_AND: out.rmw = Rmw::bit_and; break;
    case ZYDIS_MNEMONIC_OR: out.rmw = Rmw::bit_or; break;
    case ZYDIS_MNEMONIC_XOR: out.rmw = Rmw::bit_xor; break;
    case ZYDIS_MNEMONIC_INC: out.rmw = Rmw::add, out.operand = 1; return size <= 8 ? out : StoredValue{};
    case ZYDIS_MNEMONIC_DEC: out.rmw = Rmw::sub, out.operand = 1; return size <= 8 ? out : StoredValue{};
    case ZYDIS_MNEMONIC_NOT: out.rmw = Rmw::bit_not; return size <= 8 ? out : StoredValue{};
    case ZYDIS_MNEMONIC_NEG: out.rmw = Rmw::neg; return size <= 8 ? out : StoredValue{};
    default:
      break;
  }
  if (out.rmw != Rmw::none) {
    // The source operand is unchanged by these instructions (it is not the destination).
    if (size > 8 || src == nullptr) return StoredValue{};
    if (src->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) out.operand = std::uint64_t(src->imm.value.s);
    else if (src->type != ZYDIS_OPERAND_TYPE_REGISTER || !register_value(src->reg.value, regs_after, out.operand))
      return StoredValue{};
    return out;
  }
  // SSE/AVX moves and setcc: reuse the store analysis on the (unchanged) source registers; it
  // needs no memory for them.
  if (d.insn.encoding == ZYDIS_INSTRUCTION_ENCODING_EVEX) return out;
  StoreAnalysis a = analyze_store(code, at, vectors_after, MemoryReader{});
  if (a.resolution == Resolution::emulate && a.emulation.source == Source::bytes && a.write.size <= 32 &&
      m != ZYDIS_MNEMONIC_BTS && m != ZYDIS_MNEMONIC_BTR && m != ZYDIS_MNEMONIC_BTC) {
    std::memcpy(out.new_bytes.data(), a.emulation.bytes.data(), a.write.size);
    out.new_known = true;
  }
  return out;
}

core::StoreEffect effect_on_watch(const StoredValue& v, std::uint64_t watch_addr, std::size_t len,
                                  std::uint64_t rflags) {
  using Kind = core::StoreEffect::Kind;
  core::StoreEffect e;
  if (v.no_write) {
    e.kind = Kind::none;
    return e;
  }
  if (!v.address_known || v.write.size == 0) return e;  // unknown
  const std::uint64_t begin = std::max(v.write.addr, watch_addr);
  const std::uint64_t end = std::min(v.write.addr + v.write.size, watch_addr + len);
  if (begin >= end) {
    e.kind = Kind::none;  // the write went elsewhere: this instruction read the watch
    return e;
  }
  e.offset = begin - watch_addr;
  e.size = end - begin;
  const std::size_t from = begin - v.write.addr;  // first written byte that is in the watch
  auto slice = [&](const std::array<std::uint8_t, 32>& b) {
    return core::ValueBytes(b.begin() + from, b.begin() + from + e.size);
  };
  if (v.rmw != Rmw::none) {
    if (begin != v.write.addr || end != v.write.addr + v.write.size) return e;  // partly outside
    static constexpr core::StoreEffect::Op kOps[] = {
        core::StoreEffect::Op::add, core::StoreEffect::Op::add, core::StoreEffect::Op::sub,
        core::StoreEffect::Op::bit_and, core::StoreEffect::Op::bit_or, core::StoreEffect::Op::bit_xor,
        core::StoreEffect::Op::bit_not, core::StoreEffect::Op::neg};
    e.kind = Kind::rmw;
    e.op = kOps[static_cast<int>(v.rmw)];
    e.operand = v.operand;
    e.flags_known = true;
    e.flags = rflags;
    return e;
  }
  if (v.write.size > 32) return e;
  if (v.new_known && v.old_known) {
    e.kind = Kind::compare_exchange;
    e.bytes = slice(v.new_bytes);
    e.old = slice(v.old_bytes);
  } else if (v.new_known) {
    e.kind = Kind::store;
    e.bytes = slice(v.new_bytes);
  } else if (v.old_known) {
    e.kind = Kind::exchange;
    e.old = slice(v.old_bytes);
  }
  return e;
}

}  // namespace hwbp::decode
