#include "report_options.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "hwbp/error.hpp"
#include "option_checks.hpp"

namespace hwbp::cli {

void add_report_options(CLI::App& sub, ReportOptions& o, bool watch_required) {
  sub.add_option("-w,--watch", o.specs,
                 "what to watch: LOCATION[:LEN][:ACCESS] (LOCATION = NAME, NAME+OFF, 0xADDR or an "
                 "expression over the program's debug info: cfg.retries, table[7], p->next->value, "
                 "&var, *(long *)0xADDR; ACCESS = modify (default), w, rw, r, x) or "
                 "mem:ADDR[/LEN][:ACCESS]; repeatable");
  sub.add_option("-b,--break", o.breaks,
                 "execute breakpoint (a debug-register slot where one is free): NAME (the function's first "
                 "instruction), NAME+OFF, FILE:LINE or 0xADDR; reported as a hit of the watch "
                 "LOCATION:x; repeatable");
  o.watch_required = watch_required;  // checked by build_report_pipeline: --watch or --break
  sub.add_option("--stack", o.stack_depth, "frames per backtrace (default 5, 0 = none)")
      ->check(count_value());
  sub.add_flag("--json", o.json, "JSON Lines: one object per hit, a summary object at the end");
  sub.add_flag("--count", o.count, "no per-hit output; hit counts per (watch, function, line)");
  sub.add_flag("--folded", o.folded, "writer stacks in folded format (flamegraph.pl, speedscope)");
  sub.add_option("--if", o.condition, "report only hits where EXPR holds, e.g. 'new==0 || new>old'")
      ->check(expression_value());
  sub.add_option("--ignore", o.ignore, "skip the first N reported hits")->check(count_value());
  sub.add_option("--max-hits", o.max_hits, "stop watching after N hits (the program runs on)")
      ->check(count_value());
  sub.add_option("-o,--output", o.output, "write hits to FILE instead of stdout");
}

ReportPipeline::~ReportPipeline() {
  if (out && out != stdout) std::fclose(out);
}

void build_report_pipeline(const ReportOptions& o, const std::vector<WatchSpec>& extra, Symbolizer& symbolizer,
                           core::ArchInfo arch, ReportPipeline& p) {
  if (o.watch_required && o.specs.empty() && o.breaks.empty() && extra.empty())
    throw Error(Errc::invalid_request, "nothing to watch: pass --watch SPEC or --break LOCATION (see --help)");
  std::vector<WatchSpec> specs;
  for (const auto& s : o.specs) specs.push_back(parse_watch_spec(s));
  for (const auto& b : o.breaks) specs.push_back(parse_break_spec(b));
  specs.insert(specs.end(), extra.begin(), extra.end());
  p.watches = std::make_unique<WatchSet>(std::move(specs), arch);
  AcceptanceOptions accept;
  if (!o.condition.empty()) accept.condition = Condition::parse(o.condition);
  if (int(o.json) + int(o.count) + int(o.folded) > 1)
    throw Error(Errc::invalid_request, "choose one of --json, --count and --folded");
  if (!o.output.empty()) {
    p.out = std::fopen(o.output.c_str(), "w");
    if (!p.out) {
      p.out = stdout;
      throw Error(Errc::system, fmt::format("cannot write '{}': {}", o.output, std::strerror(errno)));
    }
  }
  p.format = o.json ? Format::json : o.count ? Format::count : o.folded ? Format::folded : Format::human;
  p.stack_depth = o.stack_depth;
  // Folded stacks want whole stacks unless the user chose a depth.
  if (p.format == Format::folded && p.stack_depth == 5) p.stack_depth = 64;
  if (p.format == Format::count) p.stack_depth = 1;  // counts are per line: no unwinding per hit
  p.reporter = std::make_unique<Reporter>(p.format, p.out, p.stack_depth > 1);
  p.reporter->set_symbolizer(&symbolizer);
  accept.ignore = o.ignore;
  accept.max_hits = o.max_hits;
  accept.stack_depth = p.stack_depth;
  p.acceptor = std::make_unique<HitAcceptor>(std::move(accept), *p.watches, symbolizer, *p.reporter);
}

}  // namespace hwbp::cli
