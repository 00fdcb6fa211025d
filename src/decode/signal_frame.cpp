#include "decode/signal_frame.hpp"

#include <cstring>

namespace hwbp::decode {
namespace {

// decode::Gpr order (the x86 encoding's) in glibc's gregs numbering.
constexpr int kGreg[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                           REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

}  // namespace

Registers registers_of(const ucontext_t* uc) noexcept {
  Registers r;
  for (int i = 0; i < 16; ++i) r.gpr[std::size_t(i)] = static_cast<std::uint64_t>(uc->uc_mcontext.gregs[kGreg[i]]);
  r.rip = static_cast<std::uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  r.rflags = static_cast<std::uint64_t>(uc->uc_mcontext.gregs[REG_EFL]);
  return r;
}

void store_registers(const Registers& r, ucontext_t* uc) noexcept {
  for (int i = 0; i < 16; ++i) uc->uc_mcontext.gregs[kGreg[i]] = static_cast<greg_t>(r.gpr[std::size_t(i)]);
  uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(r.rip);
  uc->uc_mcontext.gregs[REG_EFL] = static_cast<greg_t>(r.rflags);
}

VectorState vectors_of(const ucontext_t* uc) noexcept {
  const auto* fp = reinterpret_cast<const std::uint8_t*>(uc->uc_mcontext.fpregs);
  if (fp == nullptr) return {};
  std::uint32_t magic = 0, xstate_size = 0;
  std::memcpy(&magic, fp + 464, 4);
  std::memcpy(&xstate_size, fp + 464 + 12, 4);
  return {fp, magic == 0x46505853u && xstate_size >= 576 ? xstate_size : 512u};
}

}  // namespace hwbp::decode
