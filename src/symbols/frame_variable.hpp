// Parameters and locals of a stopped thread's innermost frame, for `--at LOCATION` watches:
// where a name in scope at the thread's pc lives in memory now (its DWARF location evaluated
// with the thread's registers and the frame's canonical frame address from the CFI), as GDB's
// `watch -l local` takes it after `break FUNCTION`.
#pragma once

#include <elfutils/libdw.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "symbols/dwarf_registers.hpp"
#include "symbols/process_image.hpp"

namespace hwbp::symbols {

// A thread's registers in DWARF numbering (dwarf_registers.hpp); regs[kDwarfRip] is the pc.
struct FrameState {
  std::array<std::uint64_t, kDwarfRegisters> regs{};
  std::uint64_t pc() const noexcept { return regs[kDwarfRip]; }
  std::uint64_t sp() const noexcept { return regs[kDwarfRsp]; }
};

// The innermost frame of a stopped thread: its registers and canonical frame address (the
// caller's stack pointer before the call: the return address is at cfa - 8 on x86-64).
struct StoppedFrame {
  FrameState state;
  std::optional<std::uint64_t> cfa;  // nullopt: no CFI covers the pc
  std::string function;              // the function the pc is in, for messages
};

// Builds the frame of `state` from the image's CFI (.debug_frame or .eh_frame).
StoppedFrame frame_of(const ProcessImage& image, const FrameState& state);

struct FrameVariable {
  Dwarf_Die die;  // the variable or parameter (its type: DW_AT_type)
  std::uint64_t address = 0;
  // Kept whole in a register here (optimized code: a parameter in rdi): its value, and no
  // address. A pointer there can still be followed (cfg->retries); the variable itself cannot
  // be watched.
  std::optional<std::uint64_t> register_value;
};

// The parameter or local variable `name` visible at the frame's pc (innermost block first, up to
// its function). nullopt: the function has no such name (a global may). Throws SymbolError
// (bad_spec) when it has no address now: kept in a register, optimized out, or its location
// needs what the frame lacks.
std::optional<FrameVariable> frame_variable(const ProcessImage& image, const StoppedFrame& frame,
                                            const std::string& name);

}  // namespace hwbp::symbols
