// The ptrace session behind `hwbp run` and `hwbp attach`: one tracer for every thread of one
// process, driven by perf sigtrap events that the tracee never sees.
//
// Why ptrace + sigtrap: a perf breakpoint with sigtrap=1 sends a synchronous SIGTRAP to the thread
// that made the access. A process without a SIGTRAP handler would die of it (bpftrace #4021), but
// a *traced* thread stops in a signal-delivery-stop before any handler or default action runs.
// The tracer inspects the thread there (it is stopped right after the access: values are exact
// for that thread) and resumes it with signal 0: the SIGTRAP is discarded. SIGTRAPs that are not
// ours (si_code != TRAP_PERF, or sig_data without our tag) are passed through unchanged, so
// programs with their own SIGTRAP handler keep working.
//
// Every thread is PTRACE_SEIZEd (also for `run`), which gives PTRACE_INTERRUPT (needed to detach
// running threads) and PTRACE_LISTEN (group-stops such as Ctrl-Z behave normally).
// No PTRACE_O_EXITKILL: if hwbp dies the program must run on (see detach()).
// PTRACE_O_TRACEFORK/VFORK: the page engine must give a fork child the program's page
// protection back before it runs (it inherits the read-only pages, not the engine); children are
// then let go: neither traced nor watched (the perf events use inherit_thread, so a child
// process has none either). PTRACE_O_TRACESYSGOOD: the page engine tells system-call stops
// apart (it resumes with PTRACE_SYSCALL only while it has watches armed).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace hwbp::cli {

// What the tracer asks its owner. Called while the reporting thread is ptrace-stopped.
class TraceHandler {
 public:
  virtual ~TraceHandler() = default;
  // Is this SIGTRAP one of ours (TRAP_PERF with our sig_data tag)?
  virtual bool owns(const siginfo_t& info) const = 0;
  // One of our events fired on `tid`; the thread stays stopped during the call and is resumed
  // with signal 0 afterwards. May throw: the thread is then left stopped for detach().
  virtual void on_trap(pid_t tid, const siginfo_t& info) = 0;
  // The process called execve (remove_on_exec dropped our events); `pid` is stopped.
  virtual void on_exec(pid_t pid) = 0;
  // Thread `tid` is exiting (PTRACE_EVENT_EXIT stop): the address space is still there.
  virtual void on_thread_exit(pid_t /*tid*/) {}
  // True when watching should end (e.g. --max-hits reached).
  virtual bool done() const = 0;
  // Periodic work between stops (--flexible's time slice): when on_tick() is next due, nullopt
  // for never. The stop loop shortens its wait to meet it and calls on_tick() once it is due.
  virtual std::optional<std::chrono::steady_clock::time_point> next_tick() const { return std::nullopt; }
  virtual void on_tick() {}

  // ---- the page engine's share of the stop loop (src/ptrace/page_transport.hpp's contract) ----
  // Resumes a stopped thread with `sig` (the page engine resumes with PTRACE_SYSCALL while it
  // has watches armed). False: not resumed, a new stop of it is among take_deferred()'s.
  virtual bool resume(pid_t tid, int sig);
  // Stops collected or replayed by the handler, to handle before the next waitpid.
  virtual std::optional<std::pair<pid_t, int>> take_deferred() { return std::nullopt; }
  // A signal-delivery-stop that is not one of our SIGTRAPs: true = consumed (resumed with 0).
  virtual bool on_signal(pid_t /*tid*/, const siginfo_t& /*info*/) { return false; }
  // A fault still queued on a thread that on_signal() may have to consume before the thread
  // is detached (a store to a page the page engine protected: detached with it queued, the
  // program would die of it).
  virtual bool may_consume_fault(const siginfo_t& /*info*/) const { return false; }
  // A syscall-enter or -exit stop (PTRACE_O_TRACESYSGOOD); the thread is resumed afterwards.
  virtual void on_syscall_stop(pid_t /*tid*/) {}
  // PTRACE_EVENT_FORK/VFORK/CLONE of `creator`: true = trace `child` like a thread; false = it
  // was let go. `first` is the child's first stop when it came before the event. The default
  // traces threads and lets separate processes go.
  virtual bool on_new_task(pid_t creator, pid_t child, int event, std::optional<int> first);
  // PTRACE_EVENT_EXEC of `tid`, before on_exec(): true = a vfork child exec'd: detach it.
  virtual bool exec_detaches(pid_t /*tid*/) { return false; }
};

class Tracer {
 public:
  // Checks that argv[0] can be executed (PATH search) before forking; throws hwbp::Error.
  static std::string find_program(const std::string& name);
  // Starts the program traced and returns with its only thread stopped at the exec event: the
  // new image is mapped but not one instruction (not even the dynamic loader's) has run.
  static Tracer launch(const std::vector<std::string>& argv);
  // Seizes every thread of a running process (re-scanning /proc/PID/task until no new thread
  // appears; later threads are reported by PTRACE_O_TRACECLONE). Nothing is stopped.
  static Tracer attach(pid_t pid);

  Tracer(Tracer&&) = default;
  ~Tracer();

  pid_t pid() const noexcept { return pid_; }
  bool launched() const noexcept { return launched_; }
  const std::set<pid_t>& threads() const noexcept { return threads_; }

  struct End {
    bool exited = false;  // the process is gone; status is its wait status
    int status = 0;
  };
  // The stop loop: resumes held threads, then handles stops until the process exits, a stop
  // signal reaches hwbp (SIGINT/SIGTERM/SIGHUP), the deadline passes or handler.done().
  End run(TraceHandler& handler, std::optional<std::chrono::steady_clock::time_point> deadline);

  // Handles stops as run() does (also after a stop request) until settled() or the deadline:
  // the SIGTRAPs of hits made before the events were disabled, on their way to their stops.
  void settle(TraceHandler& handler, std::chrono::steady_clock::time_point deadline,
              const std::function<bool()>& settled);

  // Detaches every thread; the caller has closed the perf events first, so no new SIGTRAP of
  // ours can be generated. A thread holding one of ours (in a signal-delivery-stop, or still
  // queued) is resumed with signal 0 before it is detached; other signals are delivered.
  void detach(TraceHandler& handler);
  // Brings one thread into an interrupt stop (PTRACE_INTERRUPT; other stops that come first are
  // handled as run() handles them) and calls fn(tid) there: a thread stopped in neither a
  // group-stop nor a system call, as the page engine needs for arming and releasing. Returns
  // false when no thread stopped (the process exited, or none did within a few seconds).
  bool with_stopped_thread(TraceHandler& handler, const std::function<void(pid_t)>& fn);

  // `run` only, after detach(): waits for the program and returns its wait status.
  int wait_exit();
  // `run` only, for start-up errors before the program ran any code of its own.
  void kill_program();

  // True once SIGINT/SIGTERM/SIGHUP was received.
  static bool stop_requested() noexcept;
  // Names the signal that stopped hwbp, e.g. "SIGINT", or "" if none.
  static std::string stop_signal_name();

 private:
  explicit Tracer(pid_t pid, bool launched);
  // Waits (with the signal gate) for the next stop or exit of any tracee; nullopt on timeout or
  // when hwbp was asked to stop.
  std::optional<std::pair<pid_t, int>> next_status(int timeout_ms, bool ignore_stop_request);
  void handle_stop(pid_t tid, int status, TraceHandler& handler);
  // Calls handler.on_tick() if due; returns the wait timeout shortened to the next tick.
  int run_ticks(TraceHandler& handler, int timeout_ms);
  void resume(pid_t tid, int sig);
  // The next stop: one the handler deferred, else waitpid (next_status).
  std::optional<std::pair<pid_t, int>> next_stop(int timeout_ms, bool ignore_stop_request);
  void on_new_task_event(pid_t creator, int event, TraceHandler& handler);
  bool has_queued_signal_of_ours(pid_t tid, const TraceHandler& handler) const;
  void detach_quietly() noexcept;

  pid_t pid_ = -1;
  bool launched_ = false;
  bool detached_ = false;
  std::optional<int> exit_status_;
  std::set<pid_t> threads_;
  std::map<pid_t, int> held_;  // threads we hold stopped -> signal to deliver when released
  std::map<pid_t, int> early_;  // first stops of tasks whose creator's event has not come yet
  TraceHandler* handler_ = nullptr;  // during run(), with_stopped_thread() and detach()
};

}  // namespace hwbp::cli
