#include "symbols/frame_variable.hpp"

#include <dwarf.h>
#include <elfutils/libdwfl.h>

#include <fmt/format.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "symbols/function_name.hpp"
#include "symbols/symbol_error.hpp"

namespace hwbp::symbols {
namespace {

struct FreeDies {
  void operator()(Dwarf_Die* p) const { std::free(p); }
};
using DieArray = std::unique_ptr<Dwarf_Die[], FreeDies>;

[[noreturn]] void no_address(const std::string& name, const std::string& why) {
  throw SymbolError(SymbolErrc::bad_spec,
                    fmt::format("'{}' has no address at this point: {}; watch it from a later "
                                "line (--at FILE:LINE) or build with -O0", name, why));
}

// A DWARF location expression that gives an address (DWARF 5, section 2.5): the operations
// compilers emit for variables in memory. `frame_base` for DW_OP_fbreg.
std::optional<std::uint64_t> evaluate_address(const Dwarf_Op* ops, std::size_t n, const StoppedFrame& frame,
                                              std::optional<std::uint64_t> frame_base, Dwarf_Addr bias,
                                              std::string* why) {
  std::vector<std::uint64_t> stack;
  for (std::size_t i = 0; i < n; ++i) {
    const Dwarf_Op& op = ops[i];
    const unsigned atom = op.atom;
    if (atom >= DW_OP_breg0 && atom <= DW_OP_breg16) {
      stack.push_back(frame.state.regs[atom - DW_OP_breg0] + static_cast<std::int64_t>(op.number));
    } else if (atom >= DW_OP_lit0 && atom <= DW_OP_lit31) {
      stack.push_back(atom - DW_OP_lit0);
    } else if (atom >= DW_OP_reg0 && atom <= DW_OP_reg31) {
      *why = "it is kept in a register";
      return std::nullopt;
    } else {
      switch (atom) {
        case DW_OP_addr: stack.push_back(op.number + bias); break;
        case DW_OP_bregx:  // libdw's dwarf_frame_cfa gives a register + offset rule this way
          if (op.number >= kDwarfRegisters) { *why = "it is relative to a register hwbp does not read"; return std::nullopt; }
          stack.push_back(frame.state.regs[op.number] + static_cast<std::int64_t>(op.number2));
          break;
        case DW_OP_regx:
          *why = "it is kept in a register";
          return std::nullopt;
        case DW_OP_fbreg:
          if (!frame_base) { *why = "its function's frame base is unknown"; return std::nullopt; }
          stack.push_back(*frame_base + static_cast<std::int64_t>(op.number));
          break;
        case DW_OP_call_frame_cfa:
          if (!frame.cfa) { *why = "no call frame information covers the pc"; return std::nullopt; }
          stack.push_back(*frame.cfa);
          break;
        case DW_OP_const1u: case DW_OP_const2u: case DW_OP_const4u: case DW_OP_const8u:
        case DW_OP_constu: case DW_OP_const1s: case DW_OP_const2s: case DW_OP_const4s:
        case DW_OP_const8s: case DW_OP_consts:
          stack.push_back(op.number);
          break;
        case DW_OP_plus_uconst:
          if (stack.empty()) return std::nullopt;
          stack.back() += op.number;
          break;
        case DW_OP_plus: case DW_OP_minus: {
          if (stack.size() < 2) return std::nullopt;
          const std::uint64_t b = stack.back();
          stack.pop_back();
          stack.back() = atom == DW_OP_plus ? stack.back() + b : stack.back() - b;
          break;
        }
        case DW_OP_stack_value: case DW_OP_implicit_value: case DW_OP_implicit_pointer:
        case DW_OP_GNU_implicit_pointer:
          *why = "it was optimized out of memory (its value is computed)";
          return std::nullopt;
        case DW_OP_piece: case DW_OP_bit_piece:
          *why = "it is split across registers and memory";
          return std::nullopt;
        default:
          *why = fmt::format("its location uses DWARF operation {:#x}, which hwbp does not evaluate", atom);
          return std::nullopt;
      }
    }
  }
  if (stack.empty()) { *why = "it was optimized out"; return std::nullopt; }
  return stack.back();
}

// The location of `die`'s attribute `at` valid at pc (a location list picks its range).
bool location_at(Dwarf_Die* die, unsigned at, Dwarf_Addr pc, Dwarf_Op** ops, std::size_t* n) {
  Dwarf_Attribute attr;
  if (!dwarf_attr_integrate(die, at, &attr)) return false;
  return dwarf_getlocation_addr(&attr, pc, ops, n, 1) == 1;
}

std::optional<std::uint64_t> frame_base_of(Dwarf_Die* subprogram, Dwarf_Addr pc, const StoppedFrame& frame) {
  Dwarf_Op* ops = nullptr;
  std::size_t n = 0;
  if (!location_at(subprogram, DW_AT_frame_base, pc, &ops, &n) || n == 0) return std::nullopt;
  // DW_OP_regN as a frame base means the register's contents (DWARF 5, 3.3.5; clang's rbp).
  if (n == 1 && ops[0].atom >= DW_OP_reg0 && ops[0].atom <= DW_OP_reg16)
    return frame.state.regs[ops[0].atom - DW_OP_reg0];
  std::string why;
  return evaluate_address(ops, n, frame, std::nullopt, 0, &why);
}

bool named(Dwarf_Die* die, const std::string& name) {
  Dwarf_Attribute attr;
  const char* n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
  return n && name == n;
}

// A DW_TAG_variable or DW_TAG_formal_parameter called `name` directly in `scope`.
std::optional<Dwarf_Die> declared_in(Dwarf_Die* scope, const std::string& name) {
  Dwarf_Die child;
  if (dwarf_child(scope, &child) != 0) return std::nullopt;
  do {
    const int tag = dwarf_tag(&child);
    if ((tag == DW_TAG_variable || tag == DW_TAG_formal_parameter) && named(&child, name)) return child;
  } while (dwarf_siblingof(&child, &child) == 0);
  return std::nullopt;
}

}  // namespace

StoppedFrame frame_of(const ProcessImage& image, const FrameState& state) {
  StoppedFrame f;
  f.state = state;
  const ModuleInfo m = image.module_at(state.pc());
  if (!m.handle) return f;
  if (auto fn = function_at(m.handle, state.pc())) f.function = fn->name;
  for (int which = 0; which < 2; ++which) {
    // .eh_frame first (always in a loaded program), then .debug_frame; each with its own bias.
    Dwarf_Addr bias = 0;
    Dwarf_CFI* cfi = which == 0 ? dwfl_module_eh_cfi(m.handle, &bias) : dwfl_module_dwarf_cfi(m.handle, &bias);
    if (!cfi) continue;
    Dwarf_Frame* raw = nullptr;
    if (dwarf_cfi_addrframe(cfi, state.pc() - bias, &raw) != 0) continue;
    std::unique_ptr<Dwarf_Frame, decltype(&std::free)> frame(raw, &std::free);
    Dwarf_Op* ops = nullptr;
    std::size_t n = 0;
    if (dwarf_frame_cfa(frame.get(), &ops, &n) != 0) continue;
    std::string why;
    f.cfa = evaluate_address(ops, n, f, std::nullopt, 0, &why);
    if (f.cfa) return f;
  }
  return f;
}

std::optional<FrameVariable> frame_variable(const ProcessImage& image, const StoppedFrame& frame,
                                            const std::string& name) {
  const ModuleInfo m = image.module_at(frame.state.pc());
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = m.handle ? dwfl_module_addrdie(m.handle, frame.state.pc(), &bias) : nullptr;
  if (!cu) return std::nullopt;
  const Dwarf_Addr pc = frame.state.pc() - bias;
  Dwarf_Die* raw = nullptr;
  const int n = dwarf_getscopes(cu, pc, &raw);
  DieArray scopes(raw);
  for (int i = 0; i < n; ++i) {
    const int tag = dwarf_tag(&scopes[i]);
    if (tag == DW_TAG_compile_unit || tag == DW_TAG_partial_unit) break;  // globals: not a local
    if (auto die = declared_in(&scopes[i], name)) {
      // The function whose frame base the variable's DW_OP_fbreg is relative to.
      int f = i;
      while (f < n && dwarf_tag(&scopes[f]) != DW_TAG_subprogram) ++f;
      const std::optional<std::uint64_t> base = f < n ? frame_base_of(&scopes[f], pc, frame) : std::nullopt;
      Dwarf_Op* ops = nullptr;
      std::size_t count = 0;
      if (!location_at(&*die, DW_AT_location, pc, &ops, &count)) no_address(name, "it was optimized out here");
      if (count == 1 && ops[0].atom >= DW_OP_reg0 && ops[0].atom <= DW_OP_reg16)
        return FrameVariable{*die, 0, frame.state.regs[ops[0].atom - DW_OP_reg0]};
      std::string why;
      auto addr = evaluate_address(ops, count, frame, base, bias, &why);
      if (!addr) no_address(name, why);
      return FrameVariable{*die, *addr, std::nullopt};
    }
    if (tag == DW_TAG_subprogram) break;  // the function's own scope was the last one
  }
  return std::nullopt;
}

}  // namespace hwbp::symbols
