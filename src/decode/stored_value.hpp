// The value a store wrote, derived from the registers AFTER the instruction (a data breakpoint
// traps after the access, issue 17): where the instruction leaves its source in a register,
// the new bytes are known without reading memory, and for exchanges the old bytes too.
//
//   mov/movnti [m], reg|imm; SSE/AVX moves; setcc      new = the source
//   xchg [m], reg; xadd [m], reg                        old = the register after
//   cmpxchg [m], reg (ZF=1: stored reg; ZF=0: stored back the old value, now in rax)
//   push reg|imm; call                                  new = the pushed value, at rsp
//
// Anything else: nothing known (the caller reads memory as before). Pure, like store_analysis.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "decode/registers.hpp"
#include "decode/store_analysis.hpp"

namespace hwbp::decode {

struct StoredValue {
  bool address_known = false;
  MemoryWrite write;  // address_known: where the bytes went
  bool new_known = false, old_known = false;
  std::array<std::uint8_t, 32> new_bytes{}, old_bytes{};  // write.size bytes (<= 32)
};

// insn_address: where the instruction starts (regs_after.rip is past it).
StoredValue stored_value_after(std::span<const std::uint8_t> code, std::uint64_t insn_address,
                               const Registers& regs_after, const VectorState& vectors_after) noexcept;

}  // namespace hwbp::decode
