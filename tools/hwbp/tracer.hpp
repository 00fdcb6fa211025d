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
// No PTRACE_O_TRACEFORK: fork children are neither traced nor watched (the events use
// inherit_thread, so a child process has none); they run at full speed.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
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

  // Detaches every thread; the caller has closed the perf events first, so no new SIGTRAP of
  // ours can be generated. A thread holding one of ours (in a signal-delivery-stop, or still
  // queued) is resumed with signal 0 before it is detached; other signals are delivered.
  void detach(const TraceHandler& handler);
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
  bool has_queued_trap(pid_t tid, const TraceHandler& handler) const;
  void detach_quietly() noexcept;

  pid_t pid_ = -1;
  bool launched_ = false;
  bool detached_ = false;
  std::optional<int> exit_status_;
  std::set<pid_t> threads_;
  std::map<pid_t, int> held_;  // threads we hold stopped -> signal to deliver when released
};

}  // namespace hwbp::cli
