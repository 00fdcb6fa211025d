// x86-64 decoding with Zydis, on a byte buffer only (no process, no symbols): the pure half of
// InstructionFinder, testable with hand-assembled bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace hwbp::symbols {

struct DecodedInstruction {
  std::uint64_t address = 0;  // run-time address of the first byte
  std::uint8_t length = 0;
  std::string text;           // Intel syntax, rip-relative operands kept: "mov dword ptr [rip+0x2f0a], 0x2a"
  bool accesses_memory = false;  // has a real memory operand, explicit or implicit (push, call, movs)
  // Absolute address of the explicit memory operand when it needs no register but RIP
  // (rip-relative or absolute); lets a caller symbolize the accessed variable.
  std::optional<std::uint64_t> memory_address;
  std::vector<std::uint8_t> bytes;  // the instruction's bytes (data_access.hpp decodes them again)
};

// The processor mode the code runs in: 64-bit (processes, 64-bit kernels) or 32-bit protected
// mode (a Multiboot kernel under `hwbp vm`), where 0x40-0x4f are inc/dec, not REX prefixes.
enum class CodeMode : std::uint8_t { x86_64, i386 };

// Decodes one instruction at the start of code, which is mapped at `address`.
std::optional<DecodedInstruction> decode_instruction(std::span<const std::uint8_t> code,
                                                     std::uint64_t address,
                                                     CodeMode mode = CodeMode::x86_64);

// Decodes linearly from code[0] (mapped at `base`, which must be an instruction boundary such as
// a function start) and returns the instruction that ends exactly at end_ip. nullopt when a byte
// sequence does not decode or when no instruction boundary falls on end_ip (data in code, wrong
// start): we refuse to guess.
std::optional<DecodedInstruction> find_instruction_ending_at(std::span<const std::uint8_t> code,
                                                             std::uint64_t base,
                                                             std::uint64_t end_ip,
                                                             CodeMode mode = CodeMode::x86_64);

}  // namespace hwbp::symbols
