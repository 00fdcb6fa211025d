// A watching session over one traced process, shared by `hwbp run` and `hwbp attach`: the
// watches (watch_set.hpp: specs resolved against the process's symbols), their arming on debug
// registers (slot_arming.hpp), the delivery that brings their hits (delivery.hpp: ptrace or BPF,
// chosen by --mode) and the acceptance path those hits go through (hit_acceptance.hpp). The
// session itself handles the process's life: the dynamic loader's rendezvous (library watches),
// execve (re-arming by name), thread exits and the end.
#pragma once

#include <sys/user.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <cstdint>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "condition.hpp"
#include "delivery.hpp"
#include "hit_acceptance.hpp"
#include "hit_report.hpp"
#include "int3_arming.hpp"
#include "page_delivery.hpp"
#include "ptrace_delivery.hpp"
#include "report_options.hpp"
#include "session_hook.hpp"
#include "slot_arming.hpp"
#include "symbols/symbol_table.hpp"
#include "tracer.hpp"
#include "uprobe_arming.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {

struct SessionOptions : ReportOptions {
  bool pending = false;
  double duration = 0;
  bool flexible = false;  // more watches than slots: the rest rotate
  unsigned slice_ms = 5;  // their time slice
  std::string mode = "auto";  // auto | bpf | ptrace: how debug-register hits reach hwbp
  std::string engine = "auto";  // auto | hw | page: what serves each watch (core::choose_engine)
  std::string at;  // --at LOCATION: the watches are armed when execution first reaches it
  pid_t thread = 0;  // --thread TID: only that thread's hits (0: every thread)
};

// Options common to run and attach.
void add_session_options(CLI::App& sub, SessionOptions& o);
// --duration SEC (finite, >= 0).
void add_duration_option(CLI::App& sub, SessionOptions& o);

class Session : public TraceHandler {
 public:
  // Parses specs and --if (throws hwbp::Error / std::invalid_argument before anything starts)
  // and chooses the delivery (--mode).
  explicit Session(const SessionOptions& options);
  ~Session() override;

  // Resolves and arms the watches in the process. at_exec_stop: the program was just exec'd
  // and its libraries are not loaded yet; names not found wait for the dynamic loader.
  // stopped_tid: a thread of it in a ptrace-stop that is neither a group-stop nor a system-call
  // stop (the exec stop, an interrupt stop), where the page engine can arm; 0 = none (then
  // page watches are refused).
  // Every perf event is opened while the tracer holds all threads stopped
  // (Tracer::with_all_stopped: each thread covered exactly once).
  void start(Tracer& tracer, bool at_exec_stop, pid_t stopped_tid);
  // True when watches may need a stopped thread to arm (the page engine): `attach` then starts
  // inside Tracer::with_stopped_thread.
  bool may_use_page_engine() const noexcept { return engine_ != core::EngineRequest::hardware; }
  // `run`: false until the dynamic loader has loaded the initial libraries (no code of the
  // program has run; a start-up error may still kill it).
  bool program_started() const noexcept { return startup_complete_; }
  // --at LOCATION was given and execution never reached it (nothing was watched): said on
  // stderr by finish(); the command exits non-zero.
  bool at_never_reached() const noexcept { return at_ && !at_->reached; }
  // The watches could not be armed at the --at stop (a bad expression there): said on stderr by
  // finish(), after the program was let go with nothing armed; the command exits with 2.
  bool at_failed() const noexcept { return !at_failure_.empty(); }
  // The bpf mode was chosen (else ptrace + sigtrap).
  bool uses_bpf() const noexcept { return delivery_->mode() == std::string_view("bpf"); }

  bool owns(const siginfo_t& info) const override;
  void on_trap(pid_t tid, const siginfo_t& info) override;
  void on_exec(pid_t pid) override;
  void on_thread_exit(pid_t tid) override;
  bool resume(pid_t tid, int sig) override;
  std::optional<std::pair<pid_t, int>> take_deferred() override;
  bool on_signal(pid_t tid, const siginfo_t& info) override;
  bool may_consume_fault(const siginfo_t& info) const override;
  void on_syscall_stop(pid_t tid) override;
  bool on_new_task(pid_t creator, pid_t child, int event, std::optional<int> first) override;
  bool exec_detaches(pid_t tid) override;
  // --max-hits reached, or hits can no longer be written (then watching ends: output_failed).
  bool done() const override { return acceptor_->done() || output_failed() || !at_failure_.empty(); }
  // Writing hits failed (EPIPE, ENOSPC): the session stopped watching and said so on stderr;
  // the command exits non-zero.
  bool output_failed() const noexcept { return reporter_->write_error() != 0; }
  std::optional<std::chrono::steady_clock::time_point> next_tick() const override;
  void on_tick() override;

  // Ends the session: closes the events, detaches, prints the summary. Returns the wait status
  // of the program if it exited (or after waiting for it with `wait_for_exit`).
  std::optional<int> finish(Tracer& tracer, const Tracer::End& end, bool wait_for_exit);
  void close_events() {
    if (arming_) arming_->close_all();
    if (uprobes_) uprobes_->close_all();
    if (int3_) int3_->close_all();
  }
  // Stops watching the live program: closes the events and gives the page engine's pages back
  // (their protection, its scratch memory), with a thread stopped for that. Before detaching.
  void stop_watching(Tracer& tracer);
  // ptrace mode, before stop_watching: disables the events (their counts are final) and handles
  // the SIGTRAP stops still on their way, until every watch's stops match its kernel count or a
  // short deadline passes (a thread that blocks SIGTRAP never stops).
  void drain_traps(Tracer& tracer);
  // ptrace mode, once the events are closed: each watch's hits counted by the kernel that no
  // SIGTRAP stop brought (Watch::lost), said on stderr; returns their sum.
  std::uint64_t count_lost_traps();

  std::optional<std::chrono::steady_clock::time_point> deadline() const;

 private:
  void open_image(pid_t pid);
  struct LoaderHook {
    std::uint64_t hook = 0, r_debug = 0;
    bool in_main_executable = false;
  };
  std::optional<LoaderHook> find_loader_hook() const;
  bool loader_map_consistent() const;
  void on_loader_hit(pid_t tid);
  void choose_delivery();
  Int3Arming::Hooks int3_hooks();
  // A SIGSEGV the page engine completes (a store to one of its pages).
  bool page_fault(pid_t tid, const siginfo_t& info);
  // Arms every resolved watch that is not armed yet, each on the mechanism core::choose_engine
  // gives it (debug registers, page protection, uprobe, int3); throws the refusal of one that has none.
  void arm_ready(pid_t stopped_tid);
  core::EngineFacts engine_facts() const;
  // hwbp's own breakpoints (session_hook.hpp): a uprobe where uprobes open, else an execute
  // debug register, else an int3. Returns what serves it, for the start-up line.
  std::string arm_hook(SessionHook kind, std::uint64_t addr);
  void disarm_hook(SessionHook kind);
  // The start-up line naming the slot the loader hook holds, once.
  void announce_loader_slot();
  void disarm_loader_hook() { disarm_hook(SessionHook::loader); }
  void on_hook(SessionHook kind, pid_t tid);
  // --at: resolves LOCATION and arms its breakpoint; false while a library may still define it.
  bool arm_at(bool may_wait);
  void on_at_hit(pid_t tid);
  void on_frame_return(pid_t tid);
  // Ends the watches of the --at frame's parameters and locals (it returned, or its thread ended).
  void end_frame_watches(pid_t stopped_tid, const std::string& reason);
  // --thread TID names a thread of the process now (throws a one-line hwbp::Error if not).
  void check_thread() const;
  // The bpf mode keeps the loader hook armed to refresh the image at each library load.
  bool tracks_library_loads() const;
  void track_library_loads();
  // A stop's budget for reading a delivery's records: the ones made before the stop matter most.
  static constexpr std::chrono::milliseconds kStopBudget{200};
  [[noreturn]] void fail_unresolved() const;
  void announce();
  void announce_rotation();
  void check_condition_lengths() const;
  // Watches on the debug registers whose kernel count exceeds the SIGTRAP stops seen so far.
  bool traps_outstanding() const;

  SessionOptions opts_;
  Symbolizer symbolizer_;
  ReportPipeline report_;  // the output, the watches, the acceptance path (report_options.hpp)
  std::FILE*& out_ = report_.out;
  std::unique_ptr<Reporter>& reporter_ = report_.reporter;
  std::unique_ptr<WatchSet>& watches_ = report_.watches;
  std::unique_ptr<HitAcceptor>& acceptor_ = report_.acceptor;
  std::unique_ptr<Delivery> delivery_;
  PtraceDelivery* ptrace_ = nullptr;  // delivery_, when it is the ptrace delivery
  Tracer* tracer_ = nullptr;          // the one start() was given (re-arming after execve)
  std::unique_ptr<SlotArming> arming_;  // null until the process is known
  std::unique_ptr<PageDelivery> page_;  // the page engine (page_delivery.hpp), same lifetime
  std::unique_ptr<UprobeArming> uprobes_;  // execute breakpoints and the loader hook, same
  std::unique_ptr<Int3Arming> int3_;       // the same without the uprobe PMU's privilege
  core::EngineRequest engine_ = core::EngineRequest::automatic;
  std::shared_ptr<symbols::ProcessImage> image_;
  std::unique_ptr<symbols::SymbolTable> table_;
  std::optional<LoaderHook> hook_;
  // --at LOCATION: where, whether it was reached, and the frame whose locals are watched.
  struct AtStop {
    std::string text;
    std::optional<std::uint64_t> addr;
    std::string description;   // "load_config at prog.c:12"
    std::string not_found;     // why LOCATION is not resolved yet
    bool reached = false;
    pid_t frame_tid = 0;
    std::uint64_t frame_cfa = 0;
    std::string frame_function;
    std::vector<core::WatchId> frame_watches;
  };
  std::optional<AtStop> at_;
  std::string at_failure_;
  pid_t pid_ = 0;
  bool startup_complete_ = true;
  bool exec_seen_ = false;
  bool loader_slot_announced_ = false;
  std::vector<bool> announced_;
  std::vector<core::WatchId> announced_rotation_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

// Exit code for a wait status: the exit code, or 128 + signal.
int exit_code_of(int wait_status);

}  // namespace hwbp::cli
