// Backtraces from a snapshot: a thread's user registers and a copy of the top of its user stack,
// taken at some instant (by a BPF program on a perf event, like `perf record --call-graph dwarf`)
// while the process kept running. Unwinding happens later, with libdwfl's CFI unwinder (frame
// pointers as its fallback), against the modules of the image; the thread is never attached.
//
// An image that unwinds snapshots cannot also unwind live threads (backtrace_thread): libdwfl
// allows one attached thread state per Dwfl. Use a second ProcessImage for that.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "symbols/dwarf_registers.hpp"
#include "symbols/process_image.hpp"
#include "symbols/unwinder.hpp"

namespace hwbp::symbols {

// Registers in DWARF x86-64 numbering 0..16:
//   rax rdx rcx rbx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip
struct StackSnapshot {
  pid_t tid = 0;
  std::array<std::uint64_t, kDwarfRegisters> regs{};
  std::uint64_t stack_start = 0;        // address of bytes[0] (normally regs[kDwarfRsp])
  const std::uint8_t* bytes = nullptr;  // the copied stack, not owned
  std::size_t size = 0;
};


// Frames innermost first: frame 0 is regs[rip] (is_return_address = false). Memory reads inside
// [stack_start, stack_start + size) come from the copy; reads inside a module's mapping (code,
// read-only data) come from the live process; anything else (the stack beyond the copy, heap)
// fails, because the live values have changed since the snapshot and would invent frames. So a
// chain that leaves the copy ends there: fewer frames, not an error. Throws SymbolError only if
// libdwfl fails before producing any frame, or if the image unwinds live threads.
// Not thread-safe with other uses of the same image.
std::vector<Frame> backtrace_snapshot(ProcessImage& image, const StackSnapshot& s,
                                      std::size_t max_frames = 64);

}  // namespace hwbp::symbols
