// Which bytes did an instruction read or write? Computed from its explicit memory operands and
// the registers at the trap, i.e. *after* it executed (a data breakpoint is a trap): what the
// CLI needs to find every watch one instruction hit, since the hardware's hits on several
// slots arrive as one SIGTRAP (ptrace mode) or cannot always be told apart (hit_record.h).
//
// Refused (nullopt) where the registers after the instruction no longer give the address:
//  - implicit operands (push/pop/call/ret move rsp; string instructions move rsi/rdi);
//  - an address register the instruction itself writes (mov rax, [rax]; pop into it; xchg);
//  - an fs/gs segment without that segment's base (BPF records do not carry it);
//  - 32-bit addressing (an 0x67 prefix).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "symbols/dwarf_registers.hpp"
#include "symbols/instruction_decoder.hpp"

namespace hwbp::symbols {

// The general registers after the instruction: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip, the
// DWARF order of BPF records and of libdwfl; and the fs/gs bases when known.
struct RegisterFile {
  std::array<std::uint64_t, kDwarfRegisters> gpr{};
  std::optional<std::uint64_t> fs_base, gs_base;
};

struct DataAccess {
  std::uint64_t addr = 0;
  std::uint32_t size = 0;  // bytes
  bool read = false, write = false;
};

std::optional<std::vector<DataAccess>> data_accesses(const DecodedInstruction& insn,
                                                     const RegisterFile& regs);

}  // namespace hwbp::symbols
