// Does an instruction store a vector register in a form decode::analyze_store can emulate
// (legacy SSE or VEX, xmm/ymm)? The ptrace transport reads the thread's XSAVE state
// (PTRACE_GETREGSET, ~2.7 KB) only for those, so the store is emulated instead of displaced (one
// single-step cheaper). An adapter over Zydis: src/decode has the analysis but no such query.
#pragma once

#include <cstdint>
#include <span>

namespace hwbp::ptrace {

bool stores_vector_register(std::span<const std::uint8_t> code) noexcept;

}  // namespace hwbp::ptrace
