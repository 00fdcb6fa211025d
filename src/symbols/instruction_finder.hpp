// Which instruction made a data access? x86 reports a data watchpoint hit as a trap: the IP is
// the *next* instruction (Intel SDM vol. 3, "Data Memory and I/O Breakpoint Exception
// Conditions": data breakpoints are traps). Instruction lengths vary (1-15
// bytes), so the accessing instruction is found by decoding forward from a known boundary, the
// start of the enclosing function (from the symbol table), until an instruction ends at the IP.
//
// Limits, reported as "unknown" rather than guessed:
//  - no symbol covers IP-1 (stripped code, JIT), or decoding hits bytes that are not code;
//  - the access was made by a control transfer (call pushing its return address, ret, jmp/call
//    through memory): the IP is then the *target*, and the instruction before it is unrelated.
//    A found instruction with accesses_memory == false is the sign of that case.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "symbols/instruction_decoder.hpp"
#include "symbols/process_image.hpp"
#include "symbols/process_memory.hpp"

namespace hwbp::symbols {

struct AccessingInstruction {
  std::optional<DecodedInstruction> instruction;  // nullopt = unknown
  std::string unknown_reason;                     // why, when unknown
  std::uint64_t function_start = 0;               // 0 if no symbol
  std::string function;                           // raw symbol name (see SourceLocator for demangled)

  bool known() const { return instruction.has_value(); }
  // "mov dword ptr [rip+0x2f0a], 0x2a" or "unknown".
  std::string text() const { return instruction ? instruction->text : "unknown"; }
};

class InstructionFinder {
 public:
  // Reads code from the image's process (works for the calling process and another one).
  explicit InstructionFinder(std::shared_ptr<ProcessImage> image);

  // From now on code is read from the modules' files (module_file_code.hpp): the process's
  // address space is gone (it called execve) but hits made in it are still being explained.
  void read_module_files();

  // trap_ip: the IP reported with a data-watchpoint hit.
  AccessingInstruction find_before(std::uint64_t trap_ip) const;

  // Largest function we decode; beyond it the answer is "unknown" (bounded work per hit).
  static constexpr std::uint64_t kMaxFunctionBytes = 1 << 20;

 private:
  std::shared_ptr<ProcessImage> image_;
  ProcessImage::MemoryReader read_;  // the image's own reader, else the process's memory
};

}  // namespace hwbp::symbols
