// A watching session over one traced process: resolves and arms the watches, turns our SIGTRAPs
// into reported hits (access filter, --if, --ignore, --max-hits), re-arms around the dynamic
// loader and execve. Shared by `hwbp run` and `hwbp attach`.
#pragma once

#include <sys/user.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "condition.hpp"
#include "hit_report.hpp"
#include "symbols/symbol_table.hpp"
#include "tracer.hpp"
#include "watch_set.hpp"

struct hwbp_bpf_hit;
namespace hwbp::bpf {
class HitProgram;
}

namespace hwbp::cli {

struct SessionOptions {
  std::vector<std::string> specs;
  std::size_t stack_depth = 5;
  bool json = false, count = false, folded = false;
  std::string condition;
  std::uint64_t ignore = 0, max_hits = 0;
  std::string output;
  bool pending = false;
  double duration = 0;
  bool flexible = false;  // more watches than slots: the rest rotate
  unsigned slice_ms = 5;  // their time slice
  std::string mode = "auto";  // auto | bpf | ptrace: how hits reach hwbp
};

// Options common to run and attach.
void add_session_options(CLI::App& sub, SessionOptions& o);

class Session : public TraceHandler {
 public:
  // Parses specs and --if (throws hwbp::Error / std::invalid_argument before anything starts).
  explicit Session(const SessionOptions& options);
  ~Session() override;

  // Resolves and arms the watches in the process. at_exec_stop: the program was just exec'd
  // and its libraries are not loaded yet; names not found wait for the dynamic loader.
  void start(pid_t pid, bool at_exec_stop);
  // `run`: false until the dynamic loader has loaded the initial libraries (no code of the
  // program has run; a start-up error may still kill it).
  bool program_started() const noexcept { return startup_complete_; }
  // The bpf mode was chosen (else ptrace + sigtrap).
  bool uses_bpf() const noexcept { return bpf_ != nullptr; }

  bool owns(const siginfo_t& info) const override;
  void on_trap(pid_t tid, const siginfo_t& info) override;
  void on_exec(pid_t pid) override;
  void on_thread_exit(pid_t tid) override;
  bool done() const override { return done_; }
  std::optional<std::chrono::steady_clock::time_point> next_tick() const override;
  void on_tick() override;

  // Ends the session: closes the events, detaches, prints the summary. Returns the wait status
  // of the program if it exited (or after waiting for it with `wait_for_exit`).
  std::optional<int> finish(Tracer& tracer, const Tracer::End& end, bool wait_for_exit);
  void close_events() { watches_->close_all(); }

  std::optional<std::chrono::steady_clock::time_point> deadline() const;

 private:
  void open_image(pid_t pid);
  struct LoaderHook {
    std::uint64_t hook = 0, r_debug = 0;
    bool in_main_executable = false;
  };
  std::optional<LoaderHook> find_loader_hook() const;
  void on_loader_hit();
  void on_watch_hit(pid_t tid, const siginfo_t& info);
  // The other watches on the hardware that the instruction before trap ip also hit: their
  // SIGTRAPs merged into this one. Decodes only when one of `hit` shares bytes with another.
  std::vector<int> co_hits(const std::vector<int>& hit, const user_regs_struct& regs);
  // After the access filter: --if, --ignore, --max-hits, then report.
  void accept(pid_t tid, std::uint64_t ip, Watch& w, bool async,
              std::optional<std::vector<std::uint8_t>> old_bytes,
              std::optional<std::vector<std::uint8_t>> new_bytes, const Symbolizer::Unwind& unwind);
  // BPF delivery (session_bpf.cpp): choose the mode, read the ring, one record -> accept().
  void choose_delivery();
  // Reads records for about `budget` (kDrainAll: until the ring is empty, once the events are
  // closed; kStopBudget at a ptrace stop, where the records made before it matter most).
  static constexpr std::chrono::milliseconds kDrainAll{-1}, kStopBudget{200}, kTickBudget{3};
  void drain(std::chrono::milliseconds budget = kTickBudget);
  void on_bpf_hit(const hwbp_bpf_hit& hit, std::span<const std::uint8_t> stack);
  void warn_lost() const;
  void collect_counts();
  [[noreturn]] void fail_unresolved() const;
  void announce();
  void announce_rotation();
  void check_condition_lengths() const;
  void report(pid_t tid, std::uint64_t ip, const Watch& w, bool async,
              std::optional<std::vector<std::uint8_t>> old_bytes,
              std::optional<std::vector<std::uint8_t>> new_bytes, const Symbolizer::Unwind& unwind);

  SessionOptions opts_;
  std::vector<core::WatchSpec> specs_;
  Condition condition_;
  std::FILE* out_ = stdout;
  std::unique_ptr<Reporter> reporter_;
  std::unique_ptr<WatchSet> watches_;
  std::shared_ptr<symbols::ProcessImage> image_;
  std::unique_ptr<symbols::SymbolTable> table_;
  Symbolizer symbolizer_;
  std::optional<LoaderHook> hook_;
  pid_t pid_ = 0;
  bool startup_complete_ = true;
  bool exec_seen_ = false;
  bool done_ = false;
  std::vector<bool> announced_;
  std::vector<int> announced_rotation_;
  std::map<pid_t, std::string> thread_names_;
  std::uint64_t ignored_ = 0, total_ = 0;
  std::unique_ptr<bpf::HitProgram> bpf_;  // null: ptrace + sigtrap delivery
  std::chrono::steady_clock::time_point next_drain_{};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

// Exit code for a wait status: the exit code, or 128 + signal.
int exit_code_of(int wait_status);

}  // namespace hwbp::cli
