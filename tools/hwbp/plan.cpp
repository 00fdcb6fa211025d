// `hwbp plan SPEC...`: dry run of slot placement. Shows the chunks each watch becomes, which are
// shared, which slot each takes, which would rotate, or why the set cannot fit. Absolute
// addresses need no process, so it answers "will these fit?" on any machine and for either
// architecture; names and expressions (cfg.retries, table[7]) are resolved in a program file
// (--program, at the file's addresses) or a running process (-p PID, which can also follow
// pointers).
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "command.hpp"
#include "debug_file_directory.hpp"
#include "hwbp/error.hpp"
#include "core/engine_choice.hpp"
#include "core/request.hpp"
#include "perf/cpus.hpp"
#include "perf/hit_delivery.hpp"
#include "plan_model.hpp"
#include "symbols/process_image.hpp"
#include "symbols/symbol_table.hpp"
#include "engine_refusal.hpp"
#include "uprobe_arming.hpp"
#include "watch_set.hpp"
#include "watch_spec.hpp"

namespace {

using hwbp::cli::WatchPlan;
using hwbp::cli::WatchSpec;
using Json = nlohmann::ordered_json;  // insertion order: stable output that scripts can grep

struct PlanOptions {
  std::vector<std::string> specs;
  std::string arch;
  unsigned cpus = 0;  // 0: this machine's possible CPUs
  bool flexible = false;
  bool json = false;
  std::string program;  // resolve names in this file
  int pid = 0;          // or in this process
  std::string engine = "auto";
};

// What `hwbp run|attach --engine E` would use for each watch here (core::choose_engine): the
// slot plan says which watches fit the free slots; this machine says whether debug exceptions
// are delivered and whether uprobes open (else execute watches are int3 breakpoints: run and
// attach always trace the program).
std::vector<hwbp::core::EngineChoice> engine_choices(const WatchPlan& plan, const std::vector<WatchSpec>& specs,
                                                     const std::string& engine, bool flexible) {
  hwbp::core::EngineFacts facts;
  facts.hits_delivered = hwbp::perf::hits_delivered();
  facts.uprobes = hwbp::cli::UprobeArming::available();
  facts.int3 = true;
  const auto request = hwbp::core::parse_engine_request(engine).value_or(hwbp::core::EngineRequest::automatic);
  std::vector<hwbp::core::EngineChoice> out;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const bool fits = std::find(plan.overflowed.begin(), plan.overflowed.end(), i) == plan.overflowed.end() &&
                      std::find(plan.never_fit.begin(), plan.never_fit.end(), i) == plan.never_fit.end() &&
                      std::find(plan.software_only.begin(), plan.software_only.end(), i) == plan.software_only.end();
    out.push_back(hwbp::core::choose_engine(request, {specs[i].access, fits, flexible}, facts));
  }
  return out;
}

// The pages page protection makes read-only for a watch (4 KiB pages; a PIE or library keeps
// the file's page offsets at any load base).
struct PageSpan {
  std::uint64_t first = 0, count = 0;
};
PageSpan pages_of(const WatchSpec& s) {
  constexpr std::uint64_t kPage = 4096;
  const std::uint64_t first = s.addr & ~(kPage - 1);
  const std::uint64_t end = (s.addr + std::max<std::uint64_t>(s.len, 1) + kPage - 1) & ~(kPage - 1);
  return {first, (end - first) / kPage};
}

std::string pages_text(const WatchSpec& s) {
  const PageSpan p = pages_of(s);
  return fmt::format("{} page{} {:#x}-{:#x}", p.count, p.count == 1 ? "" : "s", p.first, p.first + p.count * 4096);
}

void print_engines(const std::vector<hwbp::core::EngineChoice>& engines, const std::vector<WatchSpec>& specs) {
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& c = engines[i];
    const bool pages = c.mechanism == hwbp::core::Mechanism::page_protection;
    if (c.mechanism)
      fmt::print("engine: '{}' -> {} ({}{}{}){}{}\n", specs[i].text, hwbp::core::to_string(*c.mechanism),
                 hwbp::core::to_string(c.reason), c.note.empty() ? "" : "; ", c.note, pages ? ": " : "",
                 pages ? pages_text(specs[i]) : "");
    else
      fmt::print("engine: '{}' -> refused: {}\n", specs[i].text, hwbp::cli::refusal_with_options(c));
  }
}

// Every slot accounted for: hwbp run/attach keep a breakpoint of their own on the dynamic
// loader (names in libraries loaded later, --pending, pointers read once relocated). It is a
// uprobe where they open (no slot), else an execute debug register (one slot), else an int3.
struct LoaderHookUse {
  const char* mechanism;
  unsigned slots;
};

LoaderHookUse loader_hook_use() {
  if (hwbp::cli::UprobeArming::available()) return {"uprobe", 0};
  if (hwbp::perf::hits_delivered()) return {"debug register", 1};
  return {"int3", 0};
}

std::string loader_hook_text(const WatchPlan& plan) {
  const LoaderHookUse use = loader_hook_use();
  std::string out = fmt::format(
      "hwbp run/attach: its own breakpoint on the dynamic loader (for names in libraries loaded later, "
      "--pending, and pointers read once relocated) is {} {} here: ",
      std::string_view(use.mechanism) == "int3" ? "an" : "a", use.mechanism);
  if (!use.slots) return out + "it takes no debug-register slot";
  const unsigned free = plan.pools.empty() ? 0 : plan.pools[plan.pool].free;
  return out + fmt::format("it takes 1 debug-register slot while armed (uprobes are not available: they need "
                           "root), {}", free >= 1 ? fmt::format("and {} slot{} left free by this set", free, free == 1 ? " is" : "s are")
                                               : "and this set leaves no slot for it: hwbp run refuses names that "
                                                 "wait for the loader then");
}

Json engines_json(const std::vector<hwbp::core::EngineChoice>& engines, const std::vector<WatchSpec>& specs) {
  Json list = Json::array();
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& c = engines[i];
    list.push_back({{"watch", specs[i].text},
                    {"engine", c.mechanism ? Json(hwbp::core::json_name(*c.mechanism)) : Json(nullptr)},
                    {"reason", hwbp::core::to_string(c.reason)},
                    {"refusal", c.mechanism ? Json(nullptr) : Json(hwbp::cli::refusal_with_options(c))},
                    {"note", c.note.empty() ? Json(nullptr) : Json(c.note)}});
    if (c.mechanism == hwbp::core::Mechanism::page_protection) {
      const PageSpan p = pages_of(specs[i]);
      list.back()["pages"] = {{"first", fmt::format("{:#x}", p.first)}, {"count", p.count}};
    }
  }
  return list;
}

hwbp::core::ArchInfo arch_named(const std::string& name) {
  if (name.empty()) return hwbp::core::host_arch();
  return name == "aarch64" ? hwbp::core::arch_aarch64() : hwbp::core::arch_x86_64();
}

std::vector<WatchSpec> parse_specs(const std::vector<std::string>& texts) {
  std::vector<WatchSpec> specs;
  for (const auto& t : texts) specs.push_back(hwbp::cli::parse_watch_spec(t));
  return specs;
}

// Names and expressions become addresses, resolved in --program or -p; `notes` says what each
// one is ("'cfg.retries' is cfg.retries: int, 4 bytes at 0x4010").
void resolve_names(std::vector<WatchSpec>& specs, const PlanOptions& opt, const hwbp::core::ArchInfo& arch,
                   std::vector<std::string>& notes) {
  auto named = std::find_if(specs.begin(), specs.end(), [](const WatchSpec& s) { return s.by_name(); });
  if (named == specs.end()) return;
  if (opt.program.empty() && opt.pid == 0)
    throw hwbp::Error(hwbp::Errc::invalid_request,
                      "watch spec '" + named->text + "': names and expressions need a program: pass "
                      "--program PATH (its file) or -p PID (a running process), or give 0xADDR");
  auto image = opt.pid ? hwbp::symbols::ProcessImage::open(opt.pid)
                       : hwbp::symbols::ProcessImage::open_file(opt.program);
  hwbp::symbols::SymbolTable table(image);
  hwbp::cli::WatchSet set(specs, arch);
  set.resolve(table);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const hwbp::cli::Watch& w = set.all()[i];
    if (!specs[i].by_name()) continue;
    if (!w.resolved())
      throw hwbp::Error(hwbp::Errc::invalid_request, fmt::format("watch '{}': {}", specs[i].text, w.unresolved_reason));
    notes.push_back(fmt::format("'{}' is {}{}{}, {} byte{} at {:#x}{}", specs[i].text, w.label,
                                w.type.empty() ? "" : ": ", w.type, w.len, w.len == 1 ? "" : "s", w.addr,
                                opt.pid ? "" : " (as in the file; a PIE or library adds its load base, "
                                               "which keeps the alignment)"));
    specs[i].kind = WatchSpec::Kind::address;
    specs[i].addr = w.addr;
    specs[i].len = w.len;
    specs[i].len_given = true;  // its own size: no default to report
  }
}

// Defaults are guesses about the user's intent, so the output says which were applied.
std::vector<std::string> default_notes(const std::vector<WatchSpec>& specs) {
  std::vector<std::string> notes;
  for (const auto& s : specs) {
    if (s.len_given || s.access == hwbp::Access::exec) continue;
    notes.push_back(fmt::format("'{}' has no length: watching {} bytes{}", s.text, s.len,
                                s.perf_form ? " (perf's default)" : "; add :LEN to change it"));
  }
  return notes;
}

std::string labels(const std::vector<std::size_t>& watches, const std::vector<WatchSpec>& specs,
                   const char* sep = ", ") {
  std::string out;
  for (std::size_t w : watches) out += (out.empty() ? "'" : std::string(sep) + "'") + specs[w].text + "'";
  return out;
}

std::string slot_text(const hwbp::cli::PlannedChunk& c) {
  if (c.slot) return std::to_string(*c.slot);
  return c.rotates ? "rotates" : "-";
}

std::string shared_text(const hwbp::cli::PlannedChunk& c, const std::vector<WatchSpec>& specs) {
  if (c.shared_by.size() < 2) return "-";
  std::string out;
  for (std::size_t w : c.shared_by) out += (out.empty() ? "" : ", ") + specs[w].text;
  return out;
}

void print_table(const WatchPlan& plan, const std::vector<WatchSpec>& specs) {
  std::vector<std::vector<std::string>> rows{{"WATCH", "CHUNK", "LEN", "ACCESS", "SLOT", "SHARED BY"}};
  for (const auto& c : plan.chunks)
    rows.push_back({specs[c.watch].text, fmt::format("{:#x}", c.chunk.addr), std::to_string(c.chunk.len),
                    hwbp::core::to_string(c.chunk.type), slot_text(c), shared_text(c, specs)});
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i + 1 < r.size(); ++i) line += fmt::format("{:<{}}  ", r[i], width[i]);
    fmt::print("{}\n", line + r.back());
  }
}

// "3 of 4 slots" on x86; per pool on aarch64 (breakpoint and watchpoint registers are separate).
std::string usage_text(const WatchPlan& plan, const hwbp::core::ArchInfo& arch) {
  std::string out;
  for (unsigned p = 0; p < plan.pools.size(); ++p) {
    const char* what = arch.mixed_pool ? "debug-register" : p == 0 ? "breakpoint" : "watchpoint";
    out += fmt::format("{}{} of {} {} slots", out.empty() ? "" : ", ", plan.pools[p].needed,
                       plan.pools[p].available, what);
  }
  return out;
}

void print_verdict(const WatchPlan& plan, const std::vector<WatchSpec>& specs,
                   const hwbp::core::ArchInfo& arch, unsigned cpus) {
  const std::string where = fmt::format("per thread ({}, {} CPUs)", arch.name, cpus);
  const std::string counts = fmt::format("{} slots needed, {} available {}", plan.slots_needed(),
                                         plan.slots_available(), where);
  if (!plan.never_fit.empty()) {
    fmt::print("does not fit, even rotating: {} alone need{} more slots than exist ({}); watch "
               "fewer bytes\n", labels(plan.never_fit, specs), plan.never_fit.size() == 1 ? "s" : "",
               counts);
  } else if (plan.overflowed.empty()) {
    fmt::print("fits: {} {}\n", usage_text(plan, arch), where);
  } else if (plan.flexible) {
    const unsigned free = plan.pools[plan.pool].free;
    fmt::print("fits with rotation: {}; rotates: {} through {} free slot{} (time-sliced: each "
               "flexible watch is armed a fraction of the time, so some accesses are missed)\n",
               counts, labels(plan.overflowed, specs), free, free == 1 ? "" : "s");
  } else {
    fmt::print("does not fit: {}; overflowed: {}; remove a watch, watch fewer bytes, or pass "
               "--flexible to time-slice them\n", counts, labels(plan.overflowed, specs));
  }
}

Json chunk_json(const hwbp::cli::PlannedChunk& c, const std::vector<WatchSpec>& specs,
                const hwbp::core::ArchInfo& arch) {
  Json shared = Json::array();
  for (std::size_t w : c.shared_by) shared.push_back(specs[w].text);
  return Json{{"watch", specs[c.watch].text}, {"addr", fmt::format("{:#x}", c.chunk.addr)},
              {"len", c.chunk.len}, {"access", hwbp::core::to_string(c.chunk.type)},
              {"slot", c.slot ? Json(*c.slot) : Json(nullptr)}, {"shared_by", shared},
              {"rotates", c.rotates}, {"pool", hwbp::cli::pool_name(arch, c.pool)}};
}

Json plan_json(const WatchPlan& plan, const std::vector<WatchSpec>& specs,
               const hwbp::core::ArchInfo& arch, unsigned cpus, std::vector<std::string> notes) {
  Json chunks = Json::array(), pools = Json::array(), overflowed = Json::array();
  for (const auto& c : plan.chunks) chunks.push_back(chunk_json(c, specs, arch));
  for (unsigned p = 0; p < plan.pools.size(); ++p)
    pools.push_back({{"pool", hwbp::cli::pool_name(arch, p)}, {"needed", plan.pools[p].needed},
                     {"available", plan.pools[p].available}, {"free", plan.pools[p].free}});
  for (std::size_t w : plan.overflowed) overflowed.push_back(specs[w].text);
  return Json{{"fits", plan.fits}, {"slots_needed", plan.slots_needed()},
              {"slots_available", plan.slots_available()}, {"chunks", chunks},
              {"arch", arch.name}, {"cpus", cpus}, {"flexible", plan.flexible},
              {"pools", pools}, {"overflowed", overflowed}, {"notes", notes}};
}

int run_plan(const PlanOptions& opt) {
  const hwbp::core::ArchInfo arch = arch_named(opt.arch);
  const unsigned cpus = opt.cpus ? opt.cpus : hwbp::perf::possible_cpus();
  std::vector<WatchSpec> specs = parse_specs(opt.specs);
  std::vector<std::string> notes;
  resolve_names(specs, opt, arch, notes);
  for (auto& n : default_notes(specs)) notes.push_back(std::move(n));
  // The engines are this machine's: shown for its own architecture only.
  const bool here = opt.arch.empty() || arch.name == hwbp::core::host_arch().name;
  const auto request = hwbp::core::parse_engine_request(opt.engine).value_or(hwbp::core::EngineRequest::automatic);
  std::vector<hwbp::cli::PlanWatch> watches;
  for (const auto& s : specs) {
    // Longer than a debug-register range: no slot plan, the page engine's (unless --engine hw,
    // or an access it cannot serve: then validate_range's error stands, as run would say).
    const auto v = hwbp::core::validate_range(arch, s.request());
    const bool software_only = here && v && v->rule == hwbp::core::Rule::too_large && !opt.flexible &&
                               request != hwbp::core::EngineRequest::hardware &&
                               (s.access == hwbp::Access::write || s.access == hwbp::Access::modify);
    if (software_only)
      notes.push_back(fmt::format("'{}' is longer than a debug-register range ({} bytes): only page "
                                  "protection can serve it", s.text, hwbp::core::kMaxRangeLen));
    watches.push_back({s.text, s.request(), software_only});
  }
  const WatchPlan plan = hwbp::cli::plan_watches(arch, cpus, watches, opt.flexible);
  const auto engines = here ? engine_choices(plan, specs, opt.engine, opt.flexible)
                            : std::vector<hwbp::core::EngineChoice>{};
  if (opt.json) {
    Json j = plan_json(plan, specs, arch, cpus, notes);
    if (here) j["engines"] = engines_json(engines, specs);
    if (here) j["loader_hook"] = {{"mechanism", loader_hook_use().mechanism}, {"slots", loader_hook_use().slots}};
    fmt::print("{}\n", j.dump());
  } else {
    for (const auto& n : notes) fmt::print("note: {}\n", n);
    print_table(plan, specs);
    print_verdict(plan, specs, arch, cpus);
    if (here) print_engines(engines, specs);
    if (here) fmt::print("{}\n", loader_hook_text(plan));
  }
  return plan.fits ? 0 : 1;
}

hwbp::cli::RegisterCommand reg([](CLI::App& app) {
  auto opt = std::make_shared<PlanOptions>();
  auto* sub = app.add_subcommand(
      "plan", "show how watches map to debug-register slots (chunks, sharing, rotation) without "
              "arming anything");
  sub->add_option("SPEC", opt->specs,
                  "0xADDR[:LEN][:ACCESS] (ACCESS modify|w|rw|r|x; LEN default 8), perf's "
                  "mem:ADDR[/LEN][:ACCESS], or with --program/-p a NAME or an expression such as "
                  "cfg.retries, table[7], p->next (LEN default: its type's size)")
      ->required();
  auto* program = sub->add_option("--program", opt->program,
                                  "resolve names and expressions in this executable or library file "
                                  "(its own addresses; pointers cannot be followed)");
  sub->add_option("-p,--pid", opt->pid, "resolve names and expressions in this running process")
      ->excludes(program)
      ->check(CLI::PositiveNumber);
  sub->add_option("--arch", opt->arch, "architecture to plan for (default: this machine's)")
      ->check(CLI::IsMember({"x86-64", "aarch64"}));
  sub->add_option("--cpus", opt->cpus, "possible CPUs (default: this machine's)")
      ->check(CLI::Range(1u, 1u << 16));
  hwbp::cli::add_debug_file_directory_option(*sub);
  sub->add_flag("--flexible", opt->flexible, "let watches that do not fit rotate (time-slice)");
  sub->add_flag("--json", opt->json, "print one JSON object");
  sub->add_option("--engine", opt->engine,
                  "show what hwbp run/attach --engine ENGINE would use for each watch on this "
                  "machine: auto (default), hw, page (the exit status stays the slot plan's)")
      ->check(CLI::IsMember({"auto", "hw", "page"}));
  return [opt] { return run_plan(*opt); };
});

}  // namespace
