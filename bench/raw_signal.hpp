// Raw signal handlers for the benchmarks' baselines: installed with glibc's __sigaction (no
// library code on the hit path), with the previous action saved and restored through the raw
// rt_sigaction so a handler of the library's comes back exactly (glibc's sigaction would replace
// its restorer with glibc's own).
#pragma once

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

extern "C" int __sigaction(int, const struct sigaction*, struct sigaction*);

namespace hwbp::bench {

// The kernel's struct sigaction (arch/x86/include/uapi/asm/signal.h).
struct KernelSigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  unsigned long mask;
};

inline KernelSigaction current_action(int sig) {
  KernelSigaction k{};
  syscall(SYS_rt_sigaction, sig, nullptr, &k, sizeof k.mask);
  return k;
}

inline void set_action(int sig, const KernelSigaction& k) { syscall(SYS_rt_sigaction, sig, &k, nullptr, sizeof k.mask); }

// Installs `fn` for `sig` for the scope; raw() is its kernel action, to swap in and out.
class RawHandler {
 public:
  RawHandler(int sig, void (*fn)(int, siginfo_t*, void*)) : sig_(sig), saved_(current_action(sig)) {
    struct sigaction act {};
    act.sa_sigaction = fn;
    act.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
    __sigaction(sig, &act, nullptr);
    raw_ = current_action(sig);
  }
  ~RawHandler() { set_action(sig_, saved_); }
  RawHandler(const RawHandler&) = delete;
  RawHandler& operator=(const RawHandler&) = delete;
  const KernelSigaction& raw() const { return raw_; }
  const KernelSigaction& saved() const { return saved_; }

 private:
  int sig_;
  KernelSigaction saved_, raw_{};
};

}  // namespace hwbp::bench
