// Signal frames on watched stacks. The kernel writes a signal's frame below the interrupted
// stack pointer (arch/x86/kernel/signal.c: get_sigframe(): below the 128-byte red zone, the
// XSAVE area then struct rt_sigframe); into a read-only page that write fails and the kernel
// kills the thread with SIGSEGV (signal_setup_done() -> force_sigsegv()). When a signal about to
// be delivered to a handler would put its frame into protected pages, the engine releases those
// pages, delivers the signal with PTRACE_SINGLESTEP (the thread stops at the handler's first
// instruction: the frame is written), reports the frame's writes to watched bytes as stores by
// "signal frame", and protects the pages again.
// Limit (docs): a frame on an alternate signal stack (sigaltstack + SA_ONSTACK) that lies in
// protected memory is not handled.
#include <signal.h>
#include <sys/mman.h>

#include <cstdlib>
#include <string>

#include "ptrace/page_transport_state.hpp"
#include "ptrace/proc_status.hpp"

namespace hwbp::ptrace {
namespace {

constexpr std::uint64_t kRedZone = 128;
// struct rt_sigframe (~440 bytes) + the XSAVE area (~2.7 KB with AVX-512; AMX would be more)
// + alignment: 8 KiB covers every frame on this architecture short of AMX tile data.
constexpr std::uint64_t kFrameMax = 8192;

// Does the process catch sig (a handler, not SIG_DFL/SIG_IGN)? /proc/PID/status SigCgt.
bool caught(pid_t pid, int sig) {
  const std::string mask = status_field(pid, "SigCgt");
  if (mask.empty() || sig < 1 || sig > 64) return false;
  return (std::strtoull(mask.c_str(), nullptr, 16) >> (sig - 1)) & 1;
}

}  // namespace

bool PageTransport::State::deliver_signal_frame(pid_t tid, int sig) {
  GeneralRegisters regs = get_registers(tid);
  const std::uint64_t top = regs.rsp - kRedZone;
  std::vector<core::PageRange> pages = protected_in(top - kFrameMax, kFrameMax);
  if (pages.empty() || !caught(tracee.pid(), sig)) return false;
  std::vector<std::uint8_t> before = snapshot(pages);
  {
    InjectionSession session = inject(tid);
    for (const core::PageRange& r : pages) unprotect(session, r);
    session.finish();  // back in the signal's delivery stop, its siginfo restored
  }
  Tracee::StepResult step = tracee.step(tid, sig);
  GeneralRegisters at_handler = get_registers(tid);
  {
    InjectionSession session = inject(tid);
    for (const core::PageRange& r : pages) protect(session, r);
    session.finish();
  }
  ++stats.signal_frames;
  report_diff(tid, pages, before, regs.rip, at_handler.rip, "signal frame", regs);
  (void)step;  // faulted: the frame could not be written elsewhere either; the thread has that fault
  return true;
}

}  // namespace hwbp::ptrace
