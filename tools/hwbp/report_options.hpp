// The options every watching command shares — what to watch and how hits are reported — and
// the one way they become a WatchSet, a Reporter and a HitAcceptor (hit_acceptance.hpp). Used by
// `hwbp run` / `hwbp attach` (session.hpp) and `hwbp vm` (vm_command.cpp), so the same flags give
// the same output formats and fields everywhere.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "hit_acceptance.hpp"
#include "hit_report.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {

struct ReportOptions {
  std::vector<std::string> specs;
  std::vector<std::string> breaks;  // --break LOCATION: execute watches, after the --watch ones
  std::size_t stack_depth = 5;
  bool json = false, count = false, folded = false;
  std::string condition;
  std::uint64_t ignore = 0, max_hits = 0;
  std::string output;
  bool watch_required = true;  // set by add_report_options
};

// --count with no per-hit decision left to hwbp (no --if, --ignore, --max-hits): a delivery may
// count hits per (watch, pc) itself and hand over the totals (HitSink::accept_count), with no
// values, symbols or stack per hit.
inline bool counts_only(const ReportOptions& o) {
  return o.count && o.condition.empty() && o.ignore == 0 && o.max_hits == 0;
}

// --watch and --break (one of them required unless `watch_required` is false), --stack, --json, --count, --folded, --if,
// --ignore, --max-hits, -o.
void add_report_options(CLI::App& sub, ReportOptions& o, bool watch_required = true);

// What the options build. Owns the output file (-o).
struct ReportPipeline {
  std::FILE* out = stdout;
  Format format = Format::human;
  std::size_t stack_depth = 5;  // after the format's adjustment (count: 1, folded: 64)
  std::unique_ptr<Reporter> reporter;
  std::unique_ptr<WatchSet> watches;
  std::unique_ptr<HitAcceptor> acceptor;

  ReportPipeline() = default;
  ReportPipeline(const ReportPipeline&) = delete;
  ReportPipeline& operator=(const ReportPipeline&) = delete;
  ~ReportPipeline();
};

// Parses the specs (--watch, then --break) and --if, checks the format flags, opens -o: throws
// hwbp::Error (or std::invalid_argument from --if) with one line before anything starts.
// `extra` may add specs of the command's own after them.
void build_report_pipeline(const ReportOptions& o, const std::vector<WatchSpec>& extra, Symbolizer& symbolizer,
                           core::ArchInfo arch, ReportPipeline& out);

}  // namespace hwbp::cli
