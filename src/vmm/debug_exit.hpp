// QEMU's isa-debug-exit device (hw/misc/debugexit.c), at port 0xF4 as `-device
// isa-debug-exit,iobase=0xf4,iosize=0x04` places it: a guest write of `value` ends the VM with
// exit status (value << 1) | 1 — never 0, so a test harness tells "the guest said so" from a
// normal QEMU exit. The process exit status keeps the low 8 bits.
#pragma once

#include <cstdint>

namespace hwbp::vmm {

inline constexpr std::uint16_t kDebugExitPort = 0xf4;
inline constexpr std::uint16_t kDebugExitPorts = 4;

inline bool is_debug_exit_port(std::uint16_t port) noexcept {
  return port >= kDebugExitPort && port < kDebugExitPort + kDebugExitPorts;
}
inline int debug_exit_status(std::uint32_t value) noexcept { return static_cast<int>(((value << 1) | 1) & 0xff); }

}  // namespace hwbp::vmm
