// The x86-64 general registers in DWARF numbering, as the System V AMD64 psABI defines it
// ("DWARF Register Number Mapping"): 0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi, 6 rbp, 7 rsp,
// 8-15 r8-r15, 16 the return address column (rip). libdwfl's unwinder takes registers in this
// order (dwfl_thread_state_registers), and hwbp's BPF records carry them so (bpf/hit_record.h).
#pragma once

#include <cstddef>

namespace hwbp::symbols {

inline constexpr int kDwarfRsp = 7;
inline constexpr int kDwarfRip = 16;
inline constexpr std::size_t kDwarfRegisters = 17;  // rax .. r15, rip

}  // namespace hwbp::symbols
