// The store analysis' view of a signal frame (ucontext_t): general registers, flags and the
// XSAVE image, for the handlers that decode the interrupted instruction in-process (the page
// engine's SIGSEGV handler, the library's SIGTRAP handler). Pure reads and writes of the frame:
// async-signal-safe. Segment bases are not in the frame: callers that need them add them.
#pragma once

#include <ucontext.h>

#include "decode/registers.hpp"

namespace hwbp::decode {

Registers registers_of(const ucontext_t* uc) noexcept;
// Writes general registers, rip and rflags back into the frame (the thread resumes with them).
void store_registers(const Registers& r, ucontext_t* uc) noexcept;
// The frame's XSAVE image (arch/x86/kernel/fpu/signal.c: the fxsave area, then extended state
// when sw_reserved carries FP_XSTATE_MAGIC1 and its size).
VectorState vectors_of(const ucontext_t* uc) noexcept;

}  // namespace hwbp::decode
