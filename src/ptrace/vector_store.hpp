// Does an instruction store a vector register (SSE/AVX/AVX-512)? The ptrace transport reads the
// thread's XSAVE state (PTRACE_GETREGSET, ~2.7 KB) only for those: decode::analyze_store can then
// emulate the store instead of falling back to a displaced single-step. An adapter over Zydis
// (src/decode has the analysis but no such query).
#pragma once

#include <cstdint>
#include <span>

namespace hwbp::ptrace {

bool stores_vector_register(std::span<const std::uint8_t> code) noexcept;

}  // namespace hwbp::ptrace
