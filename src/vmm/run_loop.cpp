#include "vmm/run_loop.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "vmm/debug_exit.hpp"

namespace hwbp::vmm {

namespace {
void on_kick(int) {}
}  // namespace

int kick_signal() noexcept { return SIGRTMIN; }

RunLoop::RunLoop(Machine& machine, std::FILE* console)
    : machine_(machine), console_(console), uart_([this](std::uint8_t byte) {
        ++console_bytes_;
        if (!console_) return;
        std::fputc(byte, console_);
        if (byte == '\n') std::fflush(console_);
      }) {
  // No SA_RESTART: KVM_RUN must return EINTR (Documentation/virt/kvm/api.rst, KVM_RUN and
  // immediate_exit: a signal makes KVM_RUN return -EINTR).
  struct sigaction kick {};
  kick.sa_handler = on_kick;
  sigemptyset(&kick.sa_mask);
  ::sigaction(kick_signal(), &kick, nullptr);
}

void RunLoop::request_stop() noexcept {
  stop_requested_.store(true, std::memory_order_seq_cst);
  // immediate_exit first, then the kick: a thread about to enter KVM_RUN sees immediate_exit
  // and returns at once; one already inside is interrupted by the signal.
  for (unsigned v = 0; v < machine_.vcpu_count(); ++v) machine_.run_state(v)->immediate_exit = 1;
  if (has_runner_.load(std::memory_order_seq_cst)) ::pthread_kill(runner_.load(), kick_signal());
}

void RunLoop::cancel_stop_request() noexcept {
  stop_requested_.store(false, std::memory_order_relaxed);
  for (unsigned v = 0; v < machine_.vcpu_count(); ++v) machine_.run_state(v)->immediate_exit = 0;
}

std::string RunLoop::describe_registers(unsigned vcpu) const {
  const kvm_regs r = machine_.registers(vcpu);
  const kvm_sregs s = machine_.special_registers(vcpu);
  return fmt::format("pc {:#x}, rax {:#x} rbx {:#x} rcx {:#x} rdx {:#x} rsi {:#x} rdi {:#x} rsp {:#x} rbp {:#x} "
                     "rflags {:#x}, cr0 {:#x} cr2 {:#x} cr3 {:#x} cr4 {:#x} efer {:#x}",
                     s.cs.base + r.rip, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.rflags, s.cr0, s.cr2,
                     s.cr3, s.cr4, s.efer);
}

bool RunLoop::serve_io(unsigned vcpu, Stop& stop) {
  kvm_run& run = *machine_.run_state(vcpu);
  auto* data = reinterpret_cast<std::uint8_t*>(&run) + run.io.data_offset;
  const std::uint16_t port = run.io.port;
  // `rep outsb` and friends arrive as one exit with io.count items of io.size bytes.
  for (std::uint32_t i = 0; i < run.io.count; ++i, data += run.io.size) {
    if (run.io.direction == KVM_EXIT_IO_OUT) {
      std::uint32_t value = 0;
      std::memcpy(&value, data, run.io.size);
      if (uart_.owns(port)) {
        uart_.write(port, static_cast<std::uint8_t>(value));
      } else if (is_debug_exit_port(port)) {
        if (console_) std::fflush(console_);
        stop.kind = Stop::Kind::exited;
        stop.exit_status = debug_exit_status(value);
        return true;
      }
    } else {
      std::memset(data, 0xff, run.io.size);
      if (uart_.owns(port)) data[0] = uart_.read(port);
    }
  }
  return false;
}

void RunLoop::serve_mmio(unsigned vcpu) {
  kvm_run& run = *machine_.run_state(vcpu);
  if (!run.mmio.is_write) std::memset(run.mmio.data, 0xff, sizeof run.mmio.data);
}

Stop RunLoop::run(unsigned vcpu) {
  Stop stop;
  stop.vcpu = vcpu;
  runner_.store(::pthread_self());
  has_runner_.store(true, std::memory_order_seq_cst);
  // Once run() has returned, a kick would only interrupt whatever the thread does next.
  struct NoRunner {
    std::atomic<bool>& flag;
    ~NoRunner() { flag.store(false, std::memory_order_seq_cst); }
  } no_runner{has_runner_};
  kvm_run& state = *machine_.run_state(vcpu);
  for (;;) {
    if (stop_requested_.exchange(false, std::memory_order_relaxed)) {
      state.immediate_exit = 0;
      stop.kind = Stop::Kind::interrupted;
      return stop;
    }
    hwbp::kvm::ExitResult result;
    if (debugger_) {
      debugger_->prepare_run(vcpu);
    }
    const int rc = ::ioctl(machine_.vcpu_fd(vcpu), KVM_RUN, 0);
    const int err = errno;
    if (debugger_) result = debugger_->handle_exit(vcpu);
    if (rc < 0) {
      if (err == EINTR || err == EAGAIN) {
        state.immediate_exit = 0;
        stop_requested_.store(false, std::memory_order_relaxed);
        stop.kind = Stop::Kind::interrupted;
        return stop;
      }
      stop.kind = Stop::Kind::failed;
      stop.message = fmt::format("KVM_RUN failed: {}", std::strerror(err));
      return stop;
    }
    if (result.consumed) {
      if (result.events.empty()) continue;
      stop.kind = Stop::Kind::events;
      stop.events = result.events;
      return stop;
    }
    // Events reported at one of the VMM's own exits (a mapping change) come with it.
    stop.events = result.events;
    switch (state.exit_reason) {
      case KVM_EXIT_IO:
        if (serve_io(vcpu, stop)) return stop;
        break;
      case KVM_EXIT_MMIO:
        serve_mmio(vcpu);
        break;
      case KVM_EXIT_HLT:
        stop.kind = Stop::Kind::halted;
        stop.message = "the guest halted with nothing to wake it (hwbp vm has no interrupt controller): " +
                       describe_registers(vcpu);
        return stop;
      case KVM_EXIT_SHUTDOWN:
        stop.kind = Stop::Kind::shutdown;
        stop.message = "the guest triple-faulted (KVM_EXIT_SHUTDOWN); last state: " + describe_registers(vcpu);
        return stop;
      case KVM_EXIT_FAIL_ENTRY:
        stop.kind = Stop::Kind::failed;
        stop.message = fmt::format("KVM could not enter the guest (hardware reason {:#x}): {}",
                                   state.fail_entry.hardware_entry_failure_reason, describe_registers(vcpu));
        return stop;
      case KVM_EXIT_INTERNAL_ERROR:
        stop.kind = Stop::Kind::failed;
        stop.message = fmt::format("KVM internal error (suberror {}): {}", state.internal.suberror,
                                   describe_registers(vcpu));
        return stop;
      case KVM_EXIT_INTR:
        break;
      default:
        stop.kind = Stop::Kind::failed;
        stop.message =
            fmt::format("unexpected KVM exit reason {}: {}", state.exit_reason, describe_registers(vcpu));
        return stop;
    }
    if (!stop.events.empty()) {
      stop.kind = Stop::Kind::events;
      return stop;
    }
  }
}

}  // namespace hwbp::vmm
