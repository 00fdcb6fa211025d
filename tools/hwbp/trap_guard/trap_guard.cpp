// libhwbp_trap_guard.so: preloaded by `hwbp run` (ptrace mode) into the program it starts, so
// that the program survives a SIGKILL of hwbp's tracing worker.
//
// Why: the ptrace mode's events are perf sigtrap events (tools/hwbp/tracer.hpp). A traced writer
// stops in the SIGTRAP's signal-delivery-stop and hwbp resumes it with signal 0. If the tracer
// dies with a writer in that stop, or with such a SIGTRAP still queued, the kernel detaches the
// writer (kernel/ptrace.c, exit_ptrace -> __ptrace_detach) and the SIGTRAP is delivered: without
// a handler its default action kills the whole program. With this library the program has a
// handler that drops the SIGTRAPs carrying the tool's sig_data tag (core/sig_data.hpp) — strays
// of hwbp's closed events, never the program's — and hands every other SIGTRAP to what the
// program itself installed, or to the default action. This is the library's own rule
// (src/inprocess/sigtrap.cpp: a perf trap never kills the process), without the library.
//
// sigaction() and signal() are interposed for SIGTRAP only, so a program that installs its own
// SIGTRAP handler (a debugger-aware program, a JIT) keeps receiving every SIGTRAP that is not
// hwbp's, and sees its own disposition when it asks. Built without sanitizers: it is loaded into
// the user's program, not into hwbp.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <dlfcn.h>

#include "core/sig_data.hpp"
#include "perf/sigtrap_info.hpp"

extern "C" int __sigaction(int, const struct sigaction*, struct sigaction*);

namespace {

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);

struct sigaction g_program {};  // the program's own view of SIGTRAP
bool g_installed = false;

SigactionFn real_sigaction() noexcept {
  static SigactionFn fn = [] {
    auto f = reinterpret_cast<SigactionFn>(dlsym(RTLD_NEXT, "sigaction"));
    return f != nullptr ? f : &__sigaction;
  }();
  return fn;
}

bool is_hwbp_stray(const siginfo_t& si) noexcept {
  const auto trap = hwbp::perf::perf_trap(si);
  return trap && hwbp::core::decode_sig_data(trap->data, hwbp::core::SigDataOwner::tool);
}

void on_sigtrap(int sig, siginfo_t* si, void* uc) {
  const int saved_errno = errno;
  if (is_hwbp_stray(*si)) {
    errno = saved_errno;
    return;  // the access it reports already completed: the thread runs on
  }
  const struct sigaction act = g_program;
  if ((act.sa_flags & SA_SIGINFO) != 0 && act.sa_sigaction != nullptr) {
    act.sa_sigaction(sig, si, uc);
  } else if (act.sa_handler == SIG_IGN) {
  } else if (act.sa_handler != SIG_DFL) {
    act.sa_handler(sig);
  } else {
    // The default action the program would have had (terminate with a core dump).
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    real_sigaction()(SIGTRAP, &dfl, nullptr);
    syscall(SYS_tgkill, getpid(), static_cast<pid_t>(syscall(SYS_gettid)), SIGTRAP);
  }
  errno = saved_errno;
}

__attribute__((constructor)) void install() {
  struct sigaction ours {};
  ours.sa_sigaction = on_sigtrap;
  ours.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
  sigemptyset(&ours.sa_mask);
  if (real_sigaction()(SIGTRAP, &ours, &g_program) == 0) g_installed = true;
}

}  // namespace

extern "C" int sigaction(int signum, const struct sigaction* act, struct sigaction* oldact) {
  if (signum != SIGTRAP || !g_installed) return real_sigaction()(signum, act, oldact);
  // The program's disposition is virtual; the handler in the kernel stays ours. (Not atomic
  // against a SIGTRAP arriving meanwhile: it then sees the old or the new disposition.)
  if (oldact != nullptr) *oldact = g_program;
  if (act != nullptr) g_program = *act;
  return 0;
}

// glibc's signal() calls its internal __sigaction, bypassing the interposed one.
extern "C" sighandler_t signal(int signum, sighandler_t handler) {
  struct sigaction act {};
  struct sigaction old {};
  act.sa_handler = handler;
  act.sa_flags = SA_RESTART;
  sigemptyset(&act.sa_mask);
  if (sigaction(signum, &act, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}
