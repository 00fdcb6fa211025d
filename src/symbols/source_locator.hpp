// Address -> {function, file, line} from the module's symbol table and DWARF line table, plus
// the chain of inlined functions from the DWARF scopes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "symbols/inline_chain.hpp"
#include "symbols/process_image.hpp"

namespace hwbp::symbols {

struct SourceLocation {
  std::string function;          // as GDB names it (function_name.hpp); empty if unknown
  std::uint64_t function_offset = 0;  // addr - function start
  std::string file;              // as recorded by the compiler (usually absolute); empty without -g
  int line = 0;                  // 0 when unknown
  int column = 0;
  std::string module;            // path of the module holding the address
  // When addr lies in inlined code: the inline chain, innermost first (inline_chain.hpp). Then
  // file:line is a line of inlined[0].function, while `function` is the outer ELF symbol.
  std::vector<InlinedCall> inlined;

};

class SourceLocator {
 public:
  explicit SourceLocator(std::shared_ptr<ProcessImage> image);

  // For a data hit pass the *accessing* instruction's address (InstructionFinder), or trap IP - 1
  // when it is unknown: the trap IP itself belongs to the next instruction, maybe the next line.
  // Returns nullopt if the address is in no module.
  std::optional<SourceLocation> locate(std::uint64_t addr) const;

 private:
  std::shared_ptr<ProcessImage> image_;
};

}  // namespace hwbp::symbols
