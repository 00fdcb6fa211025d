// Runs the VM's vCPU and serves its devices: the 16550 UART at COM1 (output to the console
// stream), QEMU's isa-debug-exit at 0xF4 (the VM ends with QEMU's status rule), and nothing
// else (other ports read 0xFF and ignore writes, as unassigned ISA ports do; MMIO likewise).
// With a hwbp::kvm::GuestDebugger attached, every exit goes through it first (its integration
// contract, include/hwbp/kvm.hpp) and a run stops when it reports events.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "hwbp/kvm.hpp"
#include "vmm/machine.hpp"
#include "vmm/uart16550.hpp"

namespace hwbp::vmm {

struct Stop {
  enum class Kind : std::uint8_t {
    events,       // the debugger reported events (breakpoint, watch hit, step)
    exited,       // the guest wrote the debug-exit port: exit_status
    shutdown,     // triple fault (KVM_EXIT_SHUTDOWN): message has the last pc and registers
    halted,       // HLT with nothing that could wake the vCPU (no interrupt controller)
    interrupted,  // request_stop() (Ctrl-C, a GDB interrupt)
    failed,       // KVM could not run the guest (entry failure, internal error)
  };
  Kind kind = Kind::events;
  unsigned vcpu = 0;
  int exit_status = 0;
  // The debugger's own storage (no copy per exit): valid until the next run() of this vCPU.
  std::span<const hwbp::kvm::Event> events;
  std::string message;
};

// The signal request_stop() sends the thread in run(): its handler does nothing, it exists so
// that the signal interrupts KVM_RUN (EINTR) instead of being ignored or killing the process.
int kick_signal() noexcept;

class RunLoop {
 public:
  RunLoop(Machine& machine, std::FILE* console);
  void attach(hwbp::kvm::GuestDebugger* debugger) noexcept { debugger_ = debugger; }
  // Runs vCPU `vcpu` until something for the caller (Stop::Kind).
  Stop run(unsigned vcpu = 0);
  // From a signal handler or another thread: the running KVM_RUN returns (EINTR or
  // immediate_exit) and run() answers Stop::interrupted. From another thread the vCPU's thread
  // is kicked with kKickSignal: a guest that makes no exits would stay in KVM_RUN for good.
  void request_stop() noexcept;
  // Withdraws a request_stop() that came after the run had stopped by itself (it would
  // otherwise stop the next run at once). Call only while no vCPU runs.
  void cancel_stop_request() noexcept;
  // Guest bytes written to the UART since the start.
  std::uint64_t console_bytes() const noexcept { return console_bytes_; }

 private:
  bool serve_io(unsigned vcpu, Stop& stop);
  void serve_mmio(unsigned vcpu);
  std::string describe_registers(unsigned vcpu) const;

  Machine& machine_;
  std::FILE* console_;
  Uart16550 uart_;
  hwbp::kvm::GuestDebugger* debugger_ = nullptr;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> has_runner_{false};
  std::atomic<pthread_t> runner_{};  // the thread in run(), kicked by request_stop()
  std::uint64_t console_bytes_ = 0;
};

}  // namespace hwbp::vmm
