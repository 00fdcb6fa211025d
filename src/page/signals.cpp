#include "page/signals.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

#include "hwbp/error.hpp"
#include "page/raw_syscall.hpp"

namespace hwbp::page {
namespace {

// The kernel's struct sigaction for rt_sigaction (arch/x86/include/uapi/asm/signal.h).
struct KernelSigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  unsigned long mask;
};
constexpr unsigned long kSaRestorer = 0x04000000;

struct Slot {
  std::atomic<bool> installed{false};
  struct sigaction program {};  // the program's view
};
Slot g_segv, g_sys;
std::mutex g_mutex;

Slot* slot_for(int sig) noexcept {
  if (sig == SIGSEGV) return &g_segv;
  if (sig == SIGSYS) return &g_sys;
  return nullptr;
}

struct sigaction from_kernel(const KernelSigaction& k) {
  struct sigaction a {};
  a.sa_handler = reinterpret_cast<sighandler_t>(k.handler);
  a.sa_flags = static_cast<int>(k.flags);
  std::memcpy(&a.sa_mask, &k.mask, sizeof k.mask);
  return a;
}

}  // namespace

void install_handler(int sig, Handler handler) {
  Slot* s = slot_for(sig);
  if (s == nullptr || s->installed.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (s->installed.load()) return;
  KernelSigaction ours{}, previous{};
  ours.handler = reinterpret_cast<void*>(handler);
  // SA_NODEFER: a callback that stores into watched memory (or a system call the engine must
  // see from inside a handler) is handled nested. SA_ONSTACK (SIGSEGV only): a thread with an
  // alternate stack takes the fault there (a watched page on its stack cannot hold a signal
  // frame). Not for SIGSYS: the system call runs inside the handler, and sigaltstack() fails
  // with EPERM when called on the alternate stack.
  ours.flags = SA_SIGINFO | SA_NODEFER | SA_RESTART | kSaRestorer | (sig == SIGSEGV ? SA_ONSTACK : 0);
  ours.restorer = reinterpret_cast<void*>(&hwbp_page_restorer);
  ours.mask = 0;
  long rc = raw_syscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(&ours), reinterpret_cast<long>(&previous), 8);
  if (rc != 0)
    throw Error(Errc::system, std::string("cannot install the page engine's handler for signal ") +
                                  std::to_string(sig) + ": " + std::strerror(int(-rc)), int(-rc));
  s->program = from_kernel(previous);
  s->installed.store(true, std::memory_order_release);
}

bool handler_installed(int sig) noexcept {
  Slot* s = slot_for(sig);
  return s != nullptr && s->installed.load(std::memory_order_acquire);
}

void chain(int sig, siginfo_t* si, void* uc) noexcept {
  Slot* s = slot_for(sig);
  struct sigaction act = s != nullptr ? s->program : (struct sigaction){};
  if ((act.sa_flags & SA_SIGINFO) != 0 && act.sa_sigaction != nullptr) {
    act.sa_sigaction(sig, si, uc);
    return;
  }
  if (act.sa_handler == SIG_IGN && sig == SIGSYS) return;
  if (act.sa_handler != SIG_DFL && act.sa_handler != SIG_IGN) {
    act.sa_handler(sig);
    return;
  }
  // Default action (an ignored fault kills too: force_sig_fault in the kernel). Restore it and
  // let the instruction fault again, so the kernel reports the original fault.
  KernelSigaction dfl{};
  dfl.handler = reinterpret_cast<void*>(SIG_DFL);
  raw_syscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(&dfl), 0, 8);
  if (sig == SIGSYS) raw_syscall(SYS_tgkill, raw_syscall(SYS_getpid), raw_syscall(SYS_gettid), SIGSYS);
}

}  // namespace hwbp::page

extern "C" bool hwbp_page_virtual_sigaction(int sig, const struct sigaction* act, struct sigaction* oldact,
                                            int* result) noexcept {
  using namespace hwbp::page;
  Slot* s = slot_for(sig);
  if (s == nullptr || !s->installed.load(std::memory_order_acquire)) return false;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (oldact != nullptr) *oldact = s->program;
  if (act != nullptr) s->program = *act;
  *result = 0;
  return true;
}
