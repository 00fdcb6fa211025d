// The acceptance path every delivery feeds (delivery.hpp): one place where a hit becomes a
// reported hit. In order: the value filter (core/value_filter.hpp; skipped when the delivery
// applied it already), --if, --ignore, --max-hits, then the report — symbolized site,
// instruction, stack, thread name — and the per-watch count the summaries print.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "condition.hpp"
#include "delivery.hpp"
#include "hit_report.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {

struct AcceptanceOptions {
  Condition condition;         // --if (empty: every hit)
  std::uint64_t ignore = 0;    // --ignore N
  std::uint64_t max_hits = 0;  // --max-hits N (0: no limit)
  std::size_t stack_depth = 5; // --stack N
};

class HitAcceptor : public HitSink {
 public:
  HitAcceptor(AcceptanceOptions options, WatchSet& watches, Symbolizer& symbolizer, Reporter& reporter)
      : opts_(std::move(options)), watches_(watches), symbolizer_(symbolizer), reporter_(reporter) {}

  // The process whose threads are named in reports (/proc/PID/task/TID/comm).
  void set_pid(pid_t pid) { pid_ = pid; }
  // --thread TID: only that thread's hits are reported and counted (0: every thread's).
  void set_only_thread(pid_t tid) { only_thread_ = tid; }
  // Names threads another way (hwbp vm: "vcpu0" for vCPU 0) instead of /proc.
  void set_thread_namer(std::function<std::string(pid_t)> namer) { namer_ = std::move(namer); }
  // A thread exited: a later thread may reuse its id (and name).
  void forget_thread(pid_t tid) { thread_names_.erase(tid); }

  void accept(HitEvent hit) override;
  void accept_count(core::WatchId watch, std::uint64_t pc, std::uint64_t n) override;
  void counts_not_exact(core::WatchId watch, std::uint64_t n) override;
  bool done() const override { return done_; }
  std::size_t stack_depth() const override { return opts_.stack_depth; }
  // Reported hits so far (after --if and --ignore).
  std::uint64_t total() const noexcept { return total_; }

 private:
  bool passes_filters(const Watch& w, const HitEvent& hit);
  void report(const Watch& w, HitEvent& hit);
  const std::string& thread_name(pid_t tid);
  std::optional<std::uint64_t> store_offset(const Watch& w, std::uint64_t pc, bool pc_is_access);

  AcceptanceOptions opts_;
  WatchSet& watches_;
  Symbolizer& symbolizer_;
  Reporter& reporter_;
  pid_t pid_ = 0;
  pid_t only_thread_ = 0;
  std::function<std::string(pid_t)> namer_;
  std::map<pid_t, std::string> thread_names_;
  std::uint64_t ignored_ = 0, total_ = 0;
  bool done_ = false;
};

// The watched bytes as the little-endian integer --if compares (at most 8 bytes are used).
std::uint64_t as_integer(const Bytes& bytes);

}  // namespace hwbp::cli
