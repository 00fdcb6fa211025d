// The value a store wrote, derived from the registers AFTER the instruction (a data breakpoint
// traps after the access, issue 17): where the instruction leaves its source in a register,
// the new bytes are known without reading memory, and for exchanges the old bytes too.
//
//   mov/movnti [m], reg|imm; SSE/AVX moves; setcc      new = the source
//   xchg [m], reg; xadd [m], reg                        old = the register after
//   cmpxchg [m], reg (ZF=1: stored reg; ZF=0: stored back the old value, now in rax)
//   push reg|imm; call                                  new = the pushed value, at rsp
//   add/sub/and/or/xor [m], reg|imm; inc/dec/not/neg [m] (lock or not)
//                                                       new = op(old, operand): the operand
//                                                       is known, the old value is not (it
//                                                       comes from the order of the stores)
//   an instruction that only reads memory               no store (a read-write watch's read)
//
// Anything else: nothing known (the caller reads memory as before). Pure, like store_analysis.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "core/store_order.hpp"
#include "decode/registers.hpp"
#include "decode/store_analysis.hpp"

namespace hwbp::decode {

// A read-modify-write whose new value is op(old, operand), in write.size bytes (<= 8).
enum class Rmw : std::uint8_t { none, add, sub, bit_and, bit_or, bit_xor, bit_not, neg };

struct StoredValue {
  bool address_known = false;
  MemoryWrite write;  // address_known: where the bytes went
  bool new_known = false, old_known = false;
  std::array<std::uint8_t, 32> new_bytes{}, old_bytes{};  // write.size bytes (<= 32)
  Rmw rmw = Rmw::none;        // new_known is false then
  std::uint64_t operand = 0;  // rmw's second operand, sign-extended to 64 bits
  bool no_write = false;      // the instruction decodes and writes no explicit memory operand
};

// op(old, operand) truncated to `size` (1, 2, 4 or 8) bytes.
std::uint64_t apply_rmw(Rmw op, std::uint64_t old, std::uint64_t operand, unsigned size) noexcept;

// insn_address: where the instruction starts (regs_after.rip is past it).
StoredValue stored_value_after(std::span<const std::uint8_t> code, std::uint64_t insn_address,
                               const Registers& regs_after, const VectorState& vectors_after) noexcept;

// What the access did to the watched bytes [watch_addr, watch_addr + len) (see
// core/store_order.hpp): the part of the watch it wrote and how. `rflags`: after the
// instruction (a read-modify-write's flags tell its result apart). Unknown when the write
// cannot be placed in the watch (its address register was overwritten, an fs/gs operand);
// `none` when the instruction wrote nothing there (it read the watch).
core::StoreEffect effect_on_watch(const StoredValue& v, std::uint64_t watch_addr, std::size_t len,
                                  std::uint64_t rflags);

}  // namespace hwbp::decode
