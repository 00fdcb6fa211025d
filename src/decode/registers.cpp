#include "decode/registers.hpp"

#include <sys/user.h>

#include <cstring>

namespace hwbp::decode {
namespace {
constexpr std::size_t kLegacyXmm = 160, kHeader = 512, kYmmHi = 576;
constexpr std::uint64_t kSseBit = 1u << 1, kAvxBit = 1u << 2;
}  // namespace

Registers from_user_regs(const user_regs_struct& r) noexcept {
  Registers d;
  d.gpr = {r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi,
           r.r8,  r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
  d.rip = r.rip;
  d.rflags = r.eflags;
  d.fs_base = r.fs_base;
  d.gs_base = r.gs_base;
  return d;
}

Registers from_dwarf(const std::uint64_t* w, std::uint64_t rflags) noexcept {
  Registers d;
  d.gpr = {w[0], w[2], w[1], w[3], w[7], w[6], w[4], w[5], w[8], w[9], w[10], w[11], w[12], w[13], w[14], w[15]};
  d.rip = w[16];
  d.rflags = rflags;
  return d;
}

bool VectorState::read(unsigned reg, unsigned bytes, std::uint8_t* out) const noexcept {
  if (xsave == nullptr || reg >= 16 || bytes > 32 || size < 512) return false;
  const bool has_header = size >= kYmmHi;
  std::uint64_t xstate_bv = kSseBit;
  if (has_header) std::memcpy(&xstate_bv, xsave + kHeader, sizeof xstate_bv);
  unsigned low = bytes < 16 ? bytes : 16;
  if (xstate_bv & kSseBit)
    std::memcpy(out, xsave + kLegacyXmm + 16 * reg, low);
  else
    std::memset(out, 0, low);
  if (bytes <= 16) return true;
  if (!has_header) return false;
  if ((xstate_bv & kAvxBit) == 0) {
    std::memset(out + 16, 0, bytes - 16);
    return true;
  }
  if (size < kYmmHi + 16 * 16) return false;
  std::memcpy(out + 16, xsave + kYmmHi + 16 * reg, bytes - 16);
  return true;
}

}  // namespace hwbp::decode
