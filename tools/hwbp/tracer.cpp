#include "tracer.hpp"

#include <fcntl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "hwbp/error.hpp"
#include "perf/threads.hpp"
#include "ptrace_refusal.hpp"

namespace hwbp::cli {
namespace {

// TRACEEXIT: a thread stops once more on its way out, while the address space still exists
// (BPF delivery symbolizes its last hits there, reading code from the live process).
// FORK/VFORK/SYSGOOD: the page engine's (tracer.hpp).
constexpr long kOptions = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT |
                          PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACESYSGOOD;
volatile sig_atomic_t g_stop_signal = 0;
sigset_t g_original_mask;
struct sigaction g_original_sigpipe;

// hwbp blocks SIGCHLD and its stop signals and takes them with sigtimedwait(): the loop then
// never loses a wake-up (a signal that arrives before the wait stays pending) and no other
// syscall of hwbp (output writes) is ever interrupted with EINTR.
const sigset_t& gated_signals() {
  static sigset_t set = [] {
    sigset_t s;
    sigemptyset(&s);
    for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP}) sigaddset(&s, sig);
    sigprocmask(SIG_BLOCK, &s, &g_original_mask);
    // A closed output (`| head -1`) must not kill hwbp with SIGPIPE while a thread sits in one
    // of its SIGTRAP stops: the write fails with EPIPE instead, and the session detaches
    // (Session::output_failed). The program gets the original disposition back (launch).
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, &g_original_sigpipe);
    return s;
  }();
  return set;
}

bool is_group_stop_signal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

// With PTRACE_O_TRACESYSGOOD a system-call stop reports SIGTRAP | 0x80 (ptrace(2)).
bool is_syscall_stop(int status) { return (status >> 16) == 0 && WSTOPSIG(status) == (SIGTRAP | 0x80); }

}  // namespace

bool TraceHandler::resume(pid_t tid, int sig) {
  ptrace(PTRACE_CONT, tid, nullptr, sig);  // ESRCH: killed while stopped
  return true;
}

bool TraceHandler::on_new_task(pid_t /*creator*/, pid_t child, int event, std::optional<int> first) {
  if (event == PTRACE_EVENT_CLONE) return true;
  // A separate process (fork, vfork): let it go once it reported its first stop.
  int status = 0;
  if (!first && waitpid(child, &status, __WALL) != child) return false;
  ptrace(PTRACE_DETACH, child, nullptr, 0);
  return false;
}

bool Tracer::stop_requested() noexcept { return g_stop_signal != 0; }

std::string Tracer::stop_signal_name() {
  if (!g_stop_signal) return "";
  return std::string("SIG") + sigabbrev_np(g_stop_signal);
}

Tracer::Tracer(pid_t pid, bool launched) : pid_(pid), launched_(launched) {}

Tracer::~Tracer() {
  // A thread we hold in the signal-delivery-stop of our SIGTRAP would receive that SIGTRAP when
  // ptrace detaches it implicitly at our exit (and die of it): release it explicitly.
  if (!detached_)
    for (auto [tid, sig] : held_) ptrace(PTRACE_DETACH, tid, nullptr, sig);
}

std::string Tracer::find_program(const std::string& name) {
  auto usable = [](const std::string& p) { return ::access(p.c_str(), X_OK) == 0; };
  if (name.find('/') != std::string::npos) {
    if (usable(name)) return name;
    throw Error(Errc::invalid_request, "cannot run '" + name + "': " + std::strerror(errno));
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    auto end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (usable(candidate)) return candidate;
    start = end + 1;
  }
  throw Error(Errc::invalid_request, "program '" + name + "' not found in PATH");
}

Tracer Tracer::launch(const std::vector<std::string>& argv) {
  std::string path = find_program(argv.at(0));
  gated_signals();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw Error(Errc::system, "pipe2 failed", errno);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) throw Error(Errc::system, std::string("fork failed: ") + std::strerror(errno), errno);
  if (pid == 0) {
    // Stop before exec so that the parent can PTRACE_SEIZE us (TRACEME would not give SEIZE's
    // INTERRUPT/LISTEN). The exec then reports PTRACE_EVENT_EXEC before ld.so runs.
    sigprocmask(SIG_SETMASK, &g_original_mask, nullptr);
    sigaction(SIGPIPE, &g_original_sigpipe, nullptr);
    ::close(fds[0]);
    raise(SIGSTOP);
    execv(path.c_str(), cargv.data());
    int e = errno;
    (void)!::write(fds[1], &e, sizeof e);
    _exit(127);
  }
  ::close(fds[1]);
  Tracer t(pid, true);
  int status = 0;
  waitpid(pid, &status, WUNTRACED);
  if (ptrace(PTRACE_SEIZE, pid, nullptr, kOptions) != 0) {
    Error refusal = ptrace_refusal(pid, errno);  // while /proc still shows the child
    ::kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ::close(fds[0]);
    throw refusal;
  }
  t.threads_.insert(pid);
  ::kill(pid, SIGCONT);
  for (;;) {
    if (waitpid(pid, &status, __WALL) < 0) throw Error(Errc::system, "waitpid failed", errno);
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      int e = 0;
      bool got = ::read(fds[0], &e, sizeof e) == static_cast<ssize_t>(sizeof e);
      ::close(fds[0]);
      t.detached_ = true;
      throw Error(Errc::invalid_request,
                  "cannot run '" + path + "': " + (got ? std::strerror(e) : "it exited at once"));
    }
    if ((status >> 16) == PTRACE_EVENT_EXEC) break;
    // The seize's group-stop trap and the SIGCONT delivery: nothing to pass on.
    ptrace(PTRACE_CONT, pid, nullptr, 0);
  }
  ::close(fds[0]);
  t.held_[pid] = 0;
  return t;
}

Tracer Tracer::attach(pid_t pid) {
  gated_signals();
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH))
    throw Error(Errc::no_such_thread, "process " + std::to_string(pid) + " does not exist", ESRCH);
  Tracer t(pid, false);
  // A thread created by a not-yet-seized thread is only visible in /proc: re-scan until stable.
  for (bool found_new = true; found_new;) {
    found_new = false;
    auto tids = perf::list_threads(pid);
    if (tids.empty() && t.threads_.empty())
      throw Error(Errc::no_such_thread, "process " + std::to_string(pid) + " does not exist",
                  ESRCH);
    for (pid_t tid : tids) {
      if (t.threads_.count(tid)) continue;
      if (ptrace(PTRACE_SEIZE, tid, nullptr, kOptions) != 0) {
        int e = errno;
        // The thread exited meanwhile: ESRCH, or EPERM while it is a zombie (exit_state).
        if (e == ESRCH || (tid != pid && thread_has_exited(pid, tid))) continue;
        // A thread created since the scan by a thread seized already is traced by us already
        // (PTRACE_O_TRACECLONE attaches it at clone), and a second seize is EPERM
        // (kernel/ptrace.c, ptrace_attach: task->ptrace set). Its first stop and its creator's
        // clone event come through the stop loop like any other new thread's.
        if (e == EPERM && traced_by_us(tid)) {
          t.threads_.insert(tid);
          found_new = true;
          continue;
        }
        t.detach_quietly();
        throw ptrace_refusal(pid, e);
      }
      t.threads_.insert(tid);
      found_new = true;
    }
  }
  return t;
}

void Tracer::detach_quietly() noexcept {
  // Nothing of ours is armed yet: threads that are running can be detached after an interrupt.
  for (pid_t tid : threads_) {
    ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
    int status;
    if (waitpid(tid, &status, __WALL) == tid && WIFSTOPPED(status)) {
      int sig = (status >> 16) == 0 ? WSTOPSIG(status) : 0;
    ptrace(PTRACE_DETACH, tid, nullptr, sig);
    }
  }
  detached_ = true;
}

std::optional<std::pair<pid_t, int>> Tracer::next_status(int timeout_ms, bool ignore_stop_request) {
  const sigset_t& set = gated_signals();
  for (;;) {
    int status = 0;
    pid_t tid = waitpid(-1, &status, __WALL | WNOHANG);
    if (tid > 0) return std::make_pair(tid, status);
    if (tid < 0 && errno == ECHILD) {
      if (!exit_status_) exit_status_ = 0;  // nothing left to wait for
      return std::nullopt;
    }
    timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
    siginfo_t info;
    int sig = sigtimedwait(&set, &info, &ts);
    if (sig < 0) return std::nullopt;  // timeout
    if (sig != SIGCHLD) {
      g_stop_signal = sig;
      if (!ignore_stop_request) return std::nullopt;
    }
  }
}

std::optional<std::pair<pid_t, int>> Tracer::next_stop(int timeout_ms, bool ignore_stop_request) {
  if (handler_)
    if (auto d = handler_->take_deferred()) return d;
  return next_status(timeout_ms, ignore_stop_request);
}

Tracer::End Tracer::run(TraceHandler& handler,
                        std::optional<std::chrono::steady_clock::time_point> deadline) {
  handler_ = &handler;
  for (auto [tid, sig] : held_) resume(tid, sig);
  held_.clear();
  for (;;) {
    if (exit_status_) return {true, *exit_status_};
    if (handler.done() || stop_requested()) return {};
    int timeout_ms = 200;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      timeout_ms = static_cast<int>(std::min<long long>(timeout_ms, left.count()));
    }
    timeout_ms = run_ticks(handler, timeout_ms);
    auto st = next_stop(timeout_ms, false);
    if (!st) continue;
    auto [tid, status] = *st;
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      threads_.erase(tid);
      if (tid == pid_) exit_status_ = status;  // the leader is reported after all threads
      continue;
    }
    handle_stop(tid, status, handler);
  }
}

void Tracer::settle(TraceHandler& handler, std::chrono::steady_clock::time_point deadline,
                    const std::function<bool()>& settled) {
  handler_ = &handler;
  while (!exit_status_ && !settled()) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    auto st = next_stop(static_cast<int>(std::min<long long>(left.count(), 20)), true);
    if (!st) continue;
    auto [tid, status] = *st;
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      threads_.erase(tid);
      if (tid == pid_) exit_status_ = status;
      continue;
    }
    handle_stop(tid, status, handler);
  }
}

int Tracer::run_ticks(TraceHandler& handler, int timeout_ms) {
  // Checked on every pass, not only on timeouts: a program that hits all the time would
  // otherwise never let the wait time out (and the rotation would stall).
  auto tick = handler.next_tick();
  if (!tick) return timeout_ms;
  auto now = std::chrono::steady_clock::now();
  if (now >= *tick) {
    handler.on_tick();
    if (!(tick = handler.next_tick())) return timeout_ms;
  }
  // 0 when the next tick is already due (e.g. records still waiting to be read): the wait then
  // only polls for stops instead of idling a millisecond.
  auto left = std::chrono::ceil<std::chrono::milliseconds>(*tick - std::chrono::steady_clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, timeout_ms));
}

void Tracer::resume(pid_t tid, int sig) {
  // ESRCH: the thread was killed (SIGKILL, exit_group of another thread) while stopped.
  if (handler_) handler_->resume(tid, sig);
  else ptrace(PTRACE_CONT, tid, nullptr, sig);
}

void Tracer::on_new_task_event(pid_t creator, int event, TraceHandler& handler) {
  unsigned long msg = 0;
  if (ptrace(PTRACE_GETEVENTMSG, creator, nullptr, &msg) == 0) {
    const auto child = static_cast<pid_t>(msg);
    std::optional<int> first;
    if (auto it = early_.find(child); it != early_.end()) {
      first = it->second;
      early_.erase(it);
    }
    if (handler.on_new_task(creator, child, event, first)) {
      threads_.insert(child);
      if (first) handle_stop(child, *first, handler);
    }
  }
  resume(creator, 0);
}

void Tracer::handle_stop(pid_t tid, int status, TraceHandler& handler) {
  if (!threads_.count(tid)) {
    // A new task's first stop, before its creator's clone/fork event: kept until that event
    // says what the task is (the page engine cleans a fork child before it runs).
    early_[tid] = status;
    return;
  }
  int sig = WSTOPSIG(status);
  switch (status >> 16) {
    case 0:
      break;  // signal-delivery-stop or system-call stop: below
    case PTRACE_EVENT_CLONE:
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK:
      on_new_task_event(tid, status >> 16, handler);
      return;
    case PTRACE_EVENT_EXEC: {
      if (handler.exec_detaches(tid)) {  // a vfork child left the shared address space
        ptrace(PTRACE_DETACH, tid, nullptr, 0);
        threads_.erase(tid);
        return;
      }
      // Other threads vanished in the exec; the survivor now has the leader's id.
      auto tids = perf::list_threads(pid_);
      threads_ = std::set<pid_t>(tids.begin(), tids.end());
      threads_.insert(tid);
      held_[tid] = 0;
      handler.on_exec(tid);
      held_.erase(tid);
      resume(tid, 0);
      return;
    }
    case PTRACE_EVENT_EXIT:
      held_[tid] = 0;
      handler.on_thread_exit(tid);
      held_.erase(tid);
      resume(tid, 0);
      return;
    case PTRACE_EVENT_STOP:
      // Group-stop (Ctrl-Z, SIGSTOP): keep it stopped the way the shell expects, but still
      // notice SIGCONT and new events. Otherwise: a new thread's first stop or an interrupt.
      if (is_group_stop_signal(sig)) ptrace(PTRACE_LISTEN, tid, nullptr, nullptr);
      else resume(tid, 0);
      return;
    default:
      resume(tid, 0);
      return;
  }
  if (is_syscall_stop(status)) {
    handler.on_syscall_stop(tid);
    resume(tid, 0);
    return;
  }
  siginfo_t info{};
  if (ptrace(PTRACE_GETSIGINFO, tid, nullptr, &info) != 0) {
    resume(tid, sig);
    return;
  }
  if (sig == SIGTRAP && handler.owns(info)) {
    held_[tid] = 0;  // if on_trap throws, detach() releases it without the SIGTRAP
    handler.on_trap(tid, info);
    held_.erase(tid);
    resume(tid, 0);  // discard our SIGTRAP: the program never sees it
    return;
  }
  if (handler.on_signal(tid, info)) {  // e.g. a store the page engine completed
    resume(tid, 0);
    return;
  }
  resume(tid, sig);  // not ours: deliver unchanged
}

bool Tracer::has_queued_signal_of_ours(pid_t tid, const TraceHandler& handler) const {
  // PTRACE_PEEKSIGINFO reads the thread's private queue without dequeuing; perf's forced
  // SIGTRAP goes there, and so does a fault's signal (force_sig_fault()). One of ours that is
  // still queued must be consumed before detaching, or it would be delivered to a program that
  // has no handler for it.
  constexpr int kBatch = 16;  // queued signals looked at (perf queues at most one per event)
  __ptrace_peeksiginfo_args args{0, 0, kBatch};  // <sys/ptrace.h>: from the first, private queue
  siginfo_t infos[kBatch];
  long n = ptrace(PTRACE_PEEKSIGINFO, tid, &args, infos);
  for (long i = 0; i < n; ++i)
    if ((infos[i].si_signo == SIGTRAP && handler.owns(infos[i])) || handler.may_consume_fault(infos[i]))
      return true;
  return false;
}

void Tracer::detach(TraceHandler& handler) {
  if (detached_) return;
  handler_ = &handler;
  std::set<pid_t> left = threads_;
  // Masks to give back: a thread that blocks SIGTRAP and has one of ours queued never dequeues
  // it, so it would never stop for it and, detached, would die of it the day it unblocks
  // SIGTRAP. It runs into the stop with SIGTRAP unblocked (PTRACE_SETSIGMASK), and gets its own
  // mask back in that stop, once the signal is dequeued.
  std::map<pid_t, std::uint64_t> masks;
  auto unblock_trap = [&](pid_t tid) {
    std::uint64_t mask = 0;
    if (masks.count(tid) || ptrace(PTRACE_GETSIGMASK, tid, sizeof mask, &mask) != 0) return;
    const std::uint64_t bit = 1ull << (SIGTRAP - 1);
    if (!(mask & bit)) return;
    std::uint64_t without = mask & ~bit;
    if (ptrace(PTRACE_SETSIGMASK, tid, sizeof without, &without) == 0) masks[tid] = mask;
  };
  auto restore_mask = [&](pid_t tid) {
    if (auto it = masks.find(tid); it != masks.end()) {
      ptrace(PTRACE_SETSIGMASK, tid, sizeof it->second, &it->second);
      masks.erase(it);
    }
  };
  // Release a stopped thread: if it still has one of our SIGTRAPs (or a fault the page engine
  // settles) queued, let it run into the signal-delivery-stop first (the loop below then
  // discards it).
  auto finish = [&](pid_t tid, int sig) {
    if (has_queued_signal_of_ours(tid, handler)) {
      unblock_trap(tid);
      resume(tid, sig);
      return;
    }
    restore_mask(tid);
    ptrace(PTRACE_DETACH, tid, nullptr, sig);
    left.erase(tid);
  };
  auto held = held_;
  held_.clear();
  for (auto [tid, sig] : held) finish(tid, sig);
  // New threads whose first stop came before their creator's clone event: stopped, and that
  // stop is consumed already (no other will come for the loop below to see).
  for (auto [tid, status] : early_) {
    left.insert(tid);
    held.emplace(tid, 0);
    finish(tid, 0);
  }
  early_.clear();
  for (pid_t tid : left)
    if (!held.count(tid)) ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!left.empty() && std::chrono::steady_clock::now() < deadline) {
    auto st = next_stop(100, true);
    if (!st) {
      if (exit_status_) break;
      continue;
    }
    auto [tid, status] = *st;
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      left.erase(tid);
      if (tid == pid_) exit_status_ = status;
      continue;
    }
    left.insert(tid);
    int event = status >> 16, sig = WSTOPSIG(status);
    if (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK) {
      unsigned long child = 0;
      if (ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &child) == 0)
        left.insert(static_cast<pid_t>(child));  // it reports its own first stop
      finish(tid, 0);
    } else if (is_syscall_stop(status)) {
      finish(tid, 0);
    } else if (event == 0) {
      siginfo_t info{};
      const bool got = ptrace(PTRACE_GETSIGINFO, tid, nullptr, &info) == 0;
      // Ours: a SIGTRAP of our events, or a fault on a page the page engine gave back meanwhile
      // (the store runs again, unwatched).
      bool ours = got && ((sig == SIGTRAP && handler.owns(info)) ||
                          handler.on_signal(tid, info));
      finish(tid, ours ? 0 : sig);
    } else {
      finish(tid, 0);  // interrupt, group-stop (stays stopped after detach), new thread, exec
    }
  }
  if (!left.empty())
    std::fprintf(stderr, "hwbp: %zu thread(s) did not stop for detaching; they are released when "
                 "hwbp exits\n", left.size());
  detached_ = true;
  // From now on SIGINT/SIGTERM act on hwbp normally (the program is on its own).
  sigprocmask(SIG_SETMASK, &g_original_mask, nullptr);
}

bool Tracer::with_stopped_thread(TraceHandler& handler, const std::function<void(pid_t)>& fn) {
  handler_ = &handler;
  pid_t target = -1;
  auto interrupt_one = [&] {
    target = threads_.count(pid_) ? pid_ : threads_.empty() ? -1 : *threads_.begin();
    if (target > 0) ptrace(PTRACE_INTERRUPT, target, nullptr, nullptr);
  };
  interrupt_one();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (target > 0 && !exit_status_ && std::chrono::steady_clock::now() < deadline) {
    auto st = next_stop(100, true);
    if (!st) continue;
    auto [tid, status] = *st;
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      threads_.erase(tid);
      if (tid == pid_) exit_status_ = status;
      if (tid == target) interrupt_one();
      continue;
    }
    // The interrupt's own stop (not a group-stop, not a new task's first stop).
    if (tid == target && (status >> 16) == PTRACE_EVENT_STOP && !is_group_stop_signal(WSTOPSIG(status))) {
      held_[tid] = 0;  // if fn throws, detach() releases it
      fn(tid);
      held_.erase(tid);
      resume(tid, 0);
      return true;
    }
    handle_stop(tid, status, handler);
    // Any other stop of the target consumed the interrupt: ptrace_stop() clears the pending
    // JOBCTL_TRAP_STOP on every trap ("any trap clears pending STOP trap", kernel/signal.c).
    // With PTRACE_SYSCALL in effect a blocked system call reports its syscall-exit-stop instead
    // of PTRACE_EVENT_STOP (ptrace(2), PTRACE_INTERRUPT); a call that the C library restarts
    // itself (sigwait() loops on EINTR) then blocks again and no PTRACE_EVENT_STOP ever comes.
    // Interrupt again; a surplus PTRACE_EVENT_STOP later is resumed by handle_stop().
    if (tid == target && threads_.count(target)) ptrace(PTRACE_INTERRUPT, target, nullptr, nullptr);
  }
  return false;
}

int Tracer::wait_exit() {
  if (exit_status_) return *exit_status_;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0)
    if (errno != EINTR) return 0;
  exit_status_ = status;
  return status;
}

void Tracer::kill_program() {
  ::kill(pid_, SIGKILL);
  held_.clear();
  int status = 0;
  for (;;) {
    pid_t who = waitpid(-1, &status, __WALL);
    if (who < 0 && errno == EINTR) continue;
    if (who < 0) break;
    // PTRACE_O_TRACEEXIT: even a SIGKILLed thread stops once on its way out.
    if (WIFSTOPPED(status)) ptrace(PTRACE_CONT, who, nullptr, 0);
    else if (who == pid_) exit_status_ = status;
  }
  detached_ = true;
  if (exit_status_) return;
  exit_status_ = status;
}

}  // namespace hwbp::cli
