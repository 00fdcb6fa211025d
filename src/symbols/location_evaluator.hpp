// Gives a location expression (location_expression.hpp) its meaning in a process: the address
// and length to watch, from ELF symbols (addresses: PIE, copy relocations, ambiguity, as
// SymbolTable resolves names) and DWARF (types: members, array elements, pointer targets).
//
// What a location is, as GDB's `watch -l`: an lvalue (var, var.f, arr[3], *p, p->f) is its own
// bytes; a pointer value (&var, (struct foo *)0x1000) stands for the object it points to. The
// length is the type's size. Pointers in the expression (p->f, *p, p[2]) are read in the target
// once, now: the watch stays on the address they held at resolution time (GDB's -l does the
// same), so a pointer that changes later does not move the watch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "symbols/frame_variable.hpp"
#include "symbols/process_memory.hpp"
#include "symbols/symbol_table.hpp"
#include "symbols/typed_value.hpp"

namespace hwbp::symbols {

struct ResolvedLocation {
  std::uint64_t address = 0;
  std::uint64_t size = 0;    // the type's size; 0 when unknown (void *, incomplete type)
  std::string type;          // as GDB prints it ("struct config", "int [4]"); empty without DWARF
  std::string text;          // the expression in canonical form, for labels
  bool read_target = false;  // a pointer was read in the target's memory
  bool in_frame = false;     // in the given frame's stack (a local, or through a pointer to one):
                             // valid until it returns
  // How to print the watched bytes (typed_value.hpp); null without a type.
  std::shared_ptr<const ValueLayout> layout;
};

class LocationEvaluator {
 public:
  // memory: where pointers are read; nullptr for an image without a process (plan --program),
  // or while the target's pointers are not valid yet (before the dynamic loader relocated it):
  // expressions that follow a pointer then throw SymbolError(needs_memory).
  // frame: a stopped thread's innermost frame (`--at`), whose parameters and locals a name may
  // be (they hide globals of the same name, as in C); nullptr: names are globals only.
  LocationEvaluator(const SymbolTable& table, const ProcessMemory* memory, const StoppedFrame* frame = nullptr)
      : table_(table), memory_(memory), frame_(frame) {}

  // Throws SymbolError: bad_spec (syntax, no such member, index out of bounds, not a location),
  // not_found (the root variable: a library may define it later), unsupported (types without
  // DWARF), needs_memory (a pointer without memory), unreadable (a pointer in unreadable memory).
  ResolvedLocation evaluate(std::string_view text) const;

 private:
  const SymbolTable& table_;
  const ProcessMemory* memory_;
  const StoppedFrame* frame_;
};

}  // namespace hwbp::symbols
