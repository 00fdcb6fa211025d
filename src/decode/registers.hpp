// The register state the store analysis reads: general registers, flags, segment bases and the
// vector registers in the XSAVE layout both transports already have (the signal frame's fpstate
// in-process, PTRACE_GETREGSET NT_X86_XSTATE under ptrace). Plain data, no Zydis.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

struct user_regs_struct;

namespace hwbp::decode {

// General registers in the x86 encoding order (ModRM/REX numbering), which neither ucontext nor
// user_regs_struct uses: each transport converts once.
enum Gpr : std::uint8_t {
  rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15
};

inline constexpr std::uint64_t kFlagCF = 1u << 0, kFlagPF = 1u << 2, kFlagZF = 1u << 6,
                               kFlagSF = 1u << 7, kFlagTF = 1u << 8, kFlagDF = 1u << 10,
                               kFlagOF = 1u << 11, kFlagRF = 1u << 16, kFlagVM = 1u << 17;

struct Registers {
  std::array<std::uint64_t, 16> gpr{};
  std::uint64_t rip = 0;
  std::uint64_t rflags = 0;
  std::uint64_t fs_base = 0, gs_base = 0;
};

// From ptrace's PTRACE_GETREGS layout (sys/user.h).
Registers from_user_regs(const user_regs_struct& r) noexcept;
// From the DWARF x86-64 numbering (System V psABI, "DWARF Register Number Mapping": rax, rdx,
// rcx, rbx, rsi, rdi, rbp, rsp, r8-r15, then rip), the BPF hit record's layout.
Registers from_dwarf(const std::uint64_t* dwarf17, std::uint64_t rflags) noexcept;

// Vector registers in the standard (non-compacted) XSAVE format: the 512-byte legacy region
// (XMM0-15 at 160), the header (XSTATE_BV at 512) and YMM_Hi128 at 576 (CPUID.(EAX=0DH,ECX=2).EBX,
// fixed at 576 in the standard format; Intel SDM vol. 1, 13.4). A component whose XSTATE_BV bit
// is clear is in its initial state (zeros) whatever the area holds (SDM 13.6). A buffer of 512
// bytes (FXSAVE only) has XMM registers and no upper halves.
struct VectorState {
  const std::uint8_t* xsave = nullptr;
  std::size_t size = 0;

  // The low `bytes` (<= 32) of vector register `reg` (0..15); false when not available.
  bool read(unsigned reg, unsigned bytes, std::uint8_t* out) const noexcept;
};

// Reads memory the instruction reads (the old bytes of a read-modify-write destination, pop's
// stack slot, a push or call's memory source). Must be async-signal-safe in-process.
struct MemoryReader {
  bool (*fn)(void* ctx, std::uint64_t addr, void* out, std::size_t len) = nullptr;
  void* ctx = nullptr;
  bool operator()(std::uint64_t addr, void* out, std::size_t len) const noexcept {
    return fn != nullptr && fn(ctx, addr, out, len);
  }
};

}  // namespace hwbp::decode
