#include "perf/sigtrap_info.hpp"

#include <cstddef>
#include <cstring>

namespace hwbp::perf {
namespace {

// The kernel's siginfo for SIGTRAP/TRAP_PERF on a 64-bit architecture, as far as perf fills it.
// __ARCH_SI_PREAMBLE_SIZE is 4 ints on 64-bit (the union is 8-byte aligned), and no 64-bit
// architecture hwbp supports defines __ARCH_SI_TRAPNO, so _perf follows _addr directly.
struct KernelPerfSiginfo {
  int si_signo;
  int si_errno;
  int si_code;
  int pad;
  void* addr;               // _sigfault._addr
  unsigned long perf_data;  // _sigfault._perf._data
  std::uint32_t perf_type;  // _sigfault._perf._type
  std::uint32_t perf_flags; // _sigfault._perf._flags
};

static_assert(sizeof(void*) == 8, "the siginfo mirror is the 64-bit layout");
static_assert(sizeof(KernelPerfSiginfo) <= sizeof(siginfo_t));
static_assert(offsetof(KernelPerfSiginfo, si_signo) == offsetof(siginfo_t, si_signo));
static_assert(offsetof(KernelPerfSiginfo, si_code) == offsetof(siginfo_t, si_code));
static_assert(offsetof(KernelPerfSiginfo, addr) == offsetof(siginfo_t, si_addr));
// The union after _addr starts right after it, 8-byte aligned.
static_assert(offsetof(KernelPerfSiginfo, perf_data) == offsetof(siginfo_t, si_addr) + sizeof(void*));
static_assert(offsetof(KernelPerfSiginfo, perf_type) == 32 && offsetof(KernelPerfSiginfo, perf_flags) == 36);

}  // namespace

std::optional<PerfTrap> perf_trap(const siginfo_t& si) noexcept {
  if (si.si_signo != SIGTRAP || si.si_code != kTrapPerf) return std::nullopt;
  KernelPerfSiginfo k;
  std::memcpy(&k, &si, sizeof k);
  PerfTrap t;
  t.addr = reinterpret_cast<std::uintptr_t>(k.addr);
  t.data = k.perf_data;
  t.type = k.perf_type;
  t.flags = k.perf_flags;
  return t;
}

}  // namespace hwbp::perf
