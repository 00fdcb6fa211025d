#include "symbols/instruction_finder.hpp"

#include <elfutils/libdwfl.h>

#include "symbols/function_name.hpp"
#include "symbols/module_file_code.hpp"
#include "symbols/symbol_error.hpp"

namespace hwbp::symbols {
namespace {

AccessingInstruction unknown(std::string why) {
  AccessingInstruction r;
  r.unknown_reason = std::move(why);
  return r;
}

}  // namespace

InstructionFinder::InstructionFinder(std::shared_ptr<ProcessImage> image) : image_(std::move(image)) {
  read_ = image_->memory_reader();
  if (!read_)  // the module's file where the process no longer maps the code (hits read late)
    read_ = [image = image_.get()](std::uint64_t addr, std::size_t len) { return read_code(*image, addr, len); };
}

void InstructionFinder::read_module_files() {
  read_ = [image = image_.get()](std::uint64_t addr, std::size_t len) { return read_module_file(*image, addr, len); };
}

AccessingInstruction InstructionFinder::find_before(std::uint64_t trap_ip) const {
  if (trap_ip == 0) return unknown("no instruction pointer");
  // Look up IP-1, the last byte of the accessing instruction: when that instruction was the last
  // of its function (e.g. a call to a noreturn function), IP already belongs to the next symbol.
  const std::uint64_t last_byte = trap_ip - 1;
  ModuleInfo m = image_->module_at(last_byte);
  if (!m.handle) return unknown("the address is in no module (JIT or anonymous code)");
  GElf_Off offset = 0;
  GElf_Sym sym;
  const char* name = dwfl_module_addrinfo(m.handle, last_byte, &offset, &sym, nullptr, nullptr,
                                          nullptr);
  if (!name) return unknown("no symbol covers the address: no known instruction boundary");
  AccessingInstruction r;
  r.function = display_symbol_name(name);
  r.function_start = last_byte - offset;
  if (trap_ip - r.function_start > kMaxFunctionBytes) {
    r.unknown_reason = "the enclosing function is too large to decode";
    return r;
  }
  std::vector<std::uint8_t> code;
  try {
    // The live bytes, not the file's: they include relocations and any runtime patching.
    code = read_(r.function_start, trap_ip - r.function_start);
  } catch (const SymbolError& e) {
    r.unknown_reason = e.what();
    return r;
  }
  r.instruction = find_instruction_ending_at(code, r.function_start, trap_ip,
                                             image_->is_32bit_code(r.function_start) ? CodeMode::i386 : CodeMode::x86_64);
  if (!r.instruction)
    r.unknown_reason = "linear decoding from " + r.function + " does not end at the IP "
                       "(data in code, or the IP is a control-transfer target)";
  return r;
}

}  // namespace hwbp::symbols
