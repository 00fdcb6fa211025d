#include "guard.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <initializer_list>

namespace hwbp::cli {
namespace {

[[noreturn]] void guard(pid_t worker, const sigset_t& waited) {
  for (;;) {
    siginfo_t info{};
    int sig = sigwaitinfo(&waited, &info);
    if (sig < 0) continue;  // EINTR
    if (sig != SIGCHLD) {
      ::kill(worker, sig);
      continue;
    }
    int status = 0;
    pid_t done = waitpid(worker, &status, WNOHANG);
    if (done != worker) continue;
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
  }
}

}  // namespace

void continue_behind_guard() {
  sigset_t waited, old;
  sigemptyset(&waited);
  for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGHUP}) sigaddset(&waited, s);
  std::fflush(nullptr);  // nothing buffered may be written twice
  sigprocmask(SIG_BLOCK, &waited, &old);  // no signal is lost between fork and sigwaitinfo
  const pid_t parent = getpid();
  const pid_t worker = fork();
  if (worker < 0) {
    sigprocmask(SIG_SETMASK, &old, nullptr);
    return;
  }
  if (worker > 0) guard(worker, waited);
  sigprocmask(SIG_SETMASK, &old, nullptr);
  // The guard may already be gone: then stop at once, as if it had been killed right now.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) ::raise(SIGTERM);
}

}  // namespace hwbp::cli
