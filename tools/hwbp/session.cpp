#include "session.hpp"

#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "bpf/hit_program.hpp"
#include "hwbp/error.hpp"
#include "symbols/process_memory.hpp"
#include "symbols/symbol_error.hpp"
#include "symbols/unwinder.hpp"

namespace hwbp::cli {
namespace {

constexpr int kTrapPerf = 6;  // TRAP_PERF; glibc headers may lack it

// siginfo's _sigfault._perf member (x86-64): si_perf_data at 24, si_perf_flags at 36.
std::uint64_t perf_data(const siginfo_t& info) {
  std::uint64_t v;
  std::memcpy(&v, reinterpret_cast<const char*>(&info) + 24, sizeof v);
  return v;
}
bool perf_async(const siginfo_t& info) {
  std::uint32_t flags;
  std::memcpy(&flags, reinterpret_cast<const char*>(&info) + 36, sizeof flags);
  return flags & 1u;  // TRAP_PERF_FLAG_ASYNC
}

std::string thread_name(pid_t pid, pid_t tid) {
  std::ifstream in(fmt::format("/proc/{}/task/{}/comm", pid, tid));
  std::string name;
  std::getline(in, name);
  return name.empty() ? "?" : name;
}

bool changed(const std::optional<std::vector<std::uint8_t>>& now, const std::vector<std::uint8_t>& old) {
  return !now || old.empty() || *now != old;  // unknown counts as changed
}

std::uint64_t as_integer(const std::vector<std::uint8_t>& b) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < b.size() && i < 8; ++i) v |= std::uint64_t{b[i]} << (8 * i);
  return v;
}

}  // namespace

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 0;
}

void add_session_options(CLI::App& sub, SessionOptions& o) {
  sub.add_option("-w,--watch", o.specs,
                 "what to watch: LOCATION[:LEN][:ACCESS] (LOCATION = NAME, NAME+OFF or 0xADDR; "
                 "ACCESS = modify (default), w, rw, r, x) or mem:ADDR[/LEN][:ACCESS]; repeatable")
      ->required();
  sub.add_option("--stack", o.stack_depth, "frames per backtrace (default 5, 0 = none)");
  sub.add_flag("--json", o.json, "JSON Lines: one object per hit, a summary object at the end");
  sub.add_flag("--count", o.count, "no per-hit output; hit counts per (watch, function, line)");
  sub.add_flag("--folded", o.folded, "writer stacks in folded format (flamegraph.pl, speedscope)");
  sub.add_option("--if", o.condition, "report only hits where EXPR holds, e.g. 'new==0 || new>old'");
  sub.add_option("--ignore", o.ignore, "skip the first N reported hits");
  sub.add_option("--max-hits", o.max_hits, "stop watching after N hits (the program runs on)");
  sub.add_option("-o,--output", o.output, "write hits to FILE instead of stdout");
  auto* flexible = sub.add_flag(
      "--flexible", o.flexible,
      "accept more watches than debug-register slots: those that do not fit take turns on the "
      "free slots (each watch reports its coverage, the fraction of time it was armed)");
  sub.add_option("--slice", o.slice_ms, "with --flexible: time slice of a turn in ms (default 5)")
      ->check(CLI::Range(1u, 10000u))
      ->needs(flexible);
  sub.add_option("--mode", o.mode,
                 "how hits reach hwbp: bpf (a BPF program reads the bytes in the kernel at the hit; "
                 "the program never stops; needs root), ptrace (each hit stops the writer; no "
                 "privilege), auto (bpf when allowed, else ptrace; default)")
      ->check(CLI::IsMember({"auto", "bpf", "ptrace"}))
      ->envname("HWBP_MODE");
  sub.add_flag("--pending", o.pending,
               "keep names that no loaded module defines, and arm them when a library defining "
               "them is loaded (dlopen)");
}

Session::Session(const SessionOptions& options) : opts_(options) {
  for (const auto& s : opts_.specs) specs_.push_back(core::parse_watch_spec(s));
  if (!opts_.condition.empty()) condition_ = Condition::parse(opts_.condition);
  if (int(opts_.json) + int(opts_.count) + int(opts_.folded) > 1)
    throw Error(Errc::invalid_request, "choose one of --json, --count and --folded");
  if (!opts_.output.empty()) {
    out_ = std::fopen(opts_.output.c_str(), "w");
    if (!out_)
      throw Error(Errc::system, fmt::format("cannot write '{}': {}", opts_.output, std::strerror(errno)));
  }
  Format f = opts_.json ? Format::json : opts_.count ? Format::count : opts_.folded ? Format::folded : Format::human;
  // Folded stacks want whole stacks unless the user chose a depth.
  if (f == Format::folded && opts_.stack_depth == 5) opts_.stack_depth = 64;
  if (f == Format::count) opts_.stack_depth = 1;  // counts are per line: no unwinding per hit
  reporter_ = std::make_unique<Reporter>(f, out_, opts_.stack_depth > 1);
  reporter_->set_show_coverage(opts_.flexible);
  choose_delivery();
}

Session::~Session() {
  if (out_ && out_ != stdout) std::fclose(out_);
}

std::optional<std::chrono::steady_clock::time_point> Session::deadline() const {
  if (opts_.duration <= 0) return std::nullopt;
  return started_ + std::chrono::milliseconds(static_cast<long long>(opts_.duration * 1000));
}

void Session::open_image(pid_t pid) {
  pid_ = pid;
  image_ = symbols::ProcessImage::open(pid);
  table_ = std::make_unique<symbols::SymbolTable>(image_);
  symbolizer_.set_image(image_);
}

void Session::start(pid_t pid, bool at_exec_stop) {
  open_image(pid);
  if (!watches_) {
    watches_ = std::make_unique<WatchSet>(pid, specs_);
    // A stack snapshot per hit, as perf --call-graph dwarf copies (8 KB by default).
    std::uint32_t stack_bytes = opts_.stack_depth <= 1 ? 0 : opts_.stack_depth <= 16 ? 8192 : 16384;
    // --count without per-hit decisions in hwbp: the kernel counts, no record per hit.
    bool count_only = opts_.count && condition_.empty() && opts_.ignore == 0 && opts_.max_hits == 0;
    watches_->set_bpf(bpf_.get(), stack_bytes, count_only);
  }
  if (opts_.flexible) watches_->set_flexible(std::chrono::milliseconds(opts_.slice_ms));
  watches_->resolve(*table_);
  check_condition_lengths();
  watches_->arm_resolved();
  announce();
  if (!exec_seen_) started_ = std::chrono::steady_clock::now();  // --duration counts from here
  startup_complete_ = true;
  if (!watches_->any_pending()) return;
  hook_ = find_loader_hook();
  // At the exec stop only ld.so and the executable are mapped: names of the libraries it will
  // load are resolved when the loader reports them (_dl_debug_state), before any constructor.
  bool wait_for_loader = at_exec_stop && hook_ && !hook_->in_main_executable;
  if (!wait_for_loader && !(opts_.pending && hook_)) {
    if (exec_seen_) return;  // after an exec the program has run: warn (below), never kill
    fail_unresolved();
  }
  watches_->arm_loader_hook(hook_->hook);
  startup_complete_ = !wait_for_loader || exec_seen_;
}

std::optional<Session::LoaderHook> Session::find_loader_hook() const {
  // glibc's debugger rendezvous: ld.so calls _dl_debug_state() after each change of the link
  // map, with _r_debug.r_state = RT_CONSISTENT once the new objects are mapped and relocated.
  LoaderHook h;
  std::string module;
  try {
    auto defs = table_->definitions("_dl_debug_state");
    if (defs.empty()) return std::nullopt;
    h.hook = defs.front().address;
    module = defs.front().module;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  h.in_main_executable = image_->module_at(h.hook).is_main_executable;
  try {
    for (const auto& d : table_->definitions("_r_debug"))
      if (d.module == module) h.r_debug = d.address;
  } catch (const std::exception&) {
  }
  return h;
}

void Session::announce() {
  // One stderr line per watch when it is armed: tells the user (and scripts) that watching began.
  auto& ws = watches_->watches();
  announced_.resize(ws.size(), false);
  for (std::size_t i = 0; i < ws.size(); ++i) {
    if (announced_[i] || ws[i].state != Watch::State::armed) continue;
    announced_[i] = true;
    std::fprintf(stderr, "hwbp: watching %s: %zu byte%s at %#llx (%s) in process %d%s\n",
                 ws[i].label.c_str(), ws[i].len, ws[i].len == 1 ? "" : "s",
                 static_cast<unsigned long long>(ws[i].addr), to_string(ws[i].spec.access), pid_,
                 ws[i].rotating ? " (rotating)" : "");
    if (ws[i].spec.access == Access::read)
      std::fprintf(stderr, "hwbp: note: x86 has no read-only watch; 'r' reports rw hits that left "
                   "the value unchanged (a same-value write shows as a read; a read-modify-write "
                   "is not shown)\n");
  }
  announce_rotation();
}

void Session::announce_rotation() {
  // Says which watches rotate (whenever that set changes, e.g. after a dlopen): their hit
  // counts only cover the time they were armed.
  const auto& rot = watches_->rotating();
  if (rot.empty() || rot == announced_rotation_) return;
  announced_rotation_ = rot;
  std::string names;
  for (int i : rot) names += (names.empty() ? "" : ", ") + watches_->watches()[std::size_t(i)].spec.text;
  std::size_t slots = watches_->rotation_slots();
  std::fprintf(stderr, "hwbp: %zu watch%s rotate%s through %zu free slot%s, %lld ms each: %s\n",
               rot.size(), rot.size() == 1 ? "" : "es", rot.size() == 1 ? "s" : "", slots,
               slots == 1 ? "" : "s", static_cast<long long>(watches_->slice().count()),
               names.c_str());
}

std::optional<std::chrono::steady_clock::time_point> Session::next_tick() const {
  auto rotation = watches_ ? watches_->next_rotation() : std::nullopt;
  if (!bpf_) return rotation;
  return rotation ? std::min(*rotation, next_drain_) : next_drain_;
}

void Session::on_tick() {
  // The rotation first: its time slices are what --flexible promises; reading records can wait.
  auto now = std::chrono::steady_clock::now();
  auto rotation = watches_ ? watches_->next_rotation() : std::nullopt;
  if (rotation && now >= *rotation) watches_->rotate();
  if (bpf_ && now >= next_drain_) drain();
}

void Session::fail_unresolved() const {
  for (const auto& w : watches_->watches())
    if (w.state == Watch::State::pending)
      throw Error(Errc::invalid_request,
                  fmt::format("watch '{}': {}{}", w.spec.text, w.unresolved_reason,
                              opts_.pending ? "" : " (use --pending to wait for a dlopen)"));
  throw Error(Errc::invalid_request, "unresolved watch");
}

void Session::check_condition_lengths() const {
  if (condition_.empty()) return;
  for (const auto& w : watches_->watches())
    if (w.len > 8 || w.spec.access == Access::exec)
      throw Error(Errc::invalid_request,
                  fmt::format("--if compares integer values of at most 8 bytes; watch '{}' is {}",
                              w.spec.text, w.spec.access == Access::exec ? "an execute watch"
                                                                         : fmt::format("{} bytes", w.len)));
}

bool Session::owns(const siginfo_t& info) const {
  return info.si_signo == SIGTRAP && info.si_code == kTrapPerf &&
         WatchSet::is_tagged(perf_data(info));
}

void Session::on_trap(pid_t tid, const siginfo_t& info) {
  if (!watches_) return;
  drain(kStopBudget);  // hits before this stop (e.g. before a dlopen) are reported first
  if (watches_->is_loader_hit(perf_data(info))) return on_loader_hit();
  on_watch_hit(tid, info);
}

void Session::on_loader_hit() {
  if (hook_ && hook_->r_debug) {
    // struct r_debug { int r_version; struct link_map* r_map; ElfW(Addr) r_brk; r_state; ... }
    try {
      auto bytes = symbols::ProcessMemory(pid_).read(hook_->r_debug + 24, 4);
      if (as_integer(bytes) != 0) return;  // RT_ADD / RT_DELETE: the map is changing
    } catch (const std::exception&) {
    }
  }
  image_->refresh();
  watches_->resolve(*table_);
  check_condition_lengths();
  watches_->arm_resolved();
  announce();
  if (!startup_complete_) {
    // The initial libraries are in and no code of the program ran yet: a name still unknown is
    // a typo (fail now, the caller may still kill the program), unless --pending.
    if (watches_->any_pending() && !opts_.pending) fail_unresolved();
    startup_complete_ = true;
  }
  if (!watches_->any_pending()) watches_->disarm_loader_hook();  // give the slot back
}

void Session::on_watch_hit(pid_t tid, const siginfo_t& info) {
  user_regs_struct regs{};
  ptrace(PTRACE_GETREGS, tid, nullptr, &regs);
  bool async = perf_async(info);
  auto trap_addr = reinterpret_cast<std::uint64_t>(info.si_addr);  // the breakpoint at trap time
  std::vector<int> hit = watches_->watches_of(perf_data(info), trap_addr);
  for (int index : co_hits(hit, regs)) hit.push_back(index);
  for (int index : hit) {
    Watch& w = watches_->watches()[static_cast<std::size_t>(index)];
    if (w.state != Watch::State::armed || done_) continue;
    auto now = watches_->read_bytes(w);
    // A rotating watch's shadow re-read at its turn may already hold this write: "unknown".
    std::vector<std::uint8_t> shadow = w.old_unknown ? std::vector<std::uint8_t>{} : w.shadow;
    w.old_unknown = false;
    bool was_changed = changed(now, shadow);
    std::optional<std::vector<std::uint8_t>> old;
    if (!shadow.empty()) old = shadow;
    if (now) w.shadow = *now;
    Access a = w.spec.access;
    // x86 has no "modify" or "read" in hardware: both are value filters over write / rw hits.
    if (a == Access::modify && !was_changed) continue;
    if (a == Access::read && was_changed) continue;
    // The thread is ptrace-stopped by us: libdwfl may read its registers directly.
    accept(tid, regs.rip, w, async, std::move(old), std::move(now), [&](std::size_t depth) {
      return symbols::backtrace_thread(*image_, tid, true, depth);
    });
  }
}

std::vector<int> Session::co_hits(const std::vector<int>& hit, const user_regs_struct& regs) {
  if (std::none_of(hit.begin(), hit.end(), [&](int i) { return watches_->overlaps_another(i); }))
    return {};
  const symbols::DecodedInstruction* insn = symbolizer_.accessing_instruction(regs.rip);
  if (!insn) return {};
  symbols::RegisterFile rf;
  rf.gpr = {regs.rax, regs.rdx, regs.rcx, regs.rbx, regs.rsi, regs.rdi, regs.rbp, regs.rsp, regs.r8,
            regs.r9,  regs.r10, regs.r11, regs.r12, regs.r13, regs.r14, regs.r15, regs.rip};
  rf.fs_base = regs.fs_base;
  rf.gs_base = regs.gs_base;
  auto accesses = symbols::data_accesses(*insn, rf);
  if (!accesses) return {};  // not computable: this SIGTRAP's own watches only, as before
  std::vector<int> more;
  for (int index : watches_->touched_on_hardware(*accesses))
    if (std::find(hit.begin(), hit.end(), index) == hit.end()) more.push_back(index);
  return more;
}

void Session::accept(pid_t tid, std::uint64_t ip, Watch& w, bool async,
                     std::optional<std::vector<std::uint8_t>> old,
                     std::optional<std::vector<std::uint8_t>> now, const Symbolizer::Unwind& unwind) {
  if (done_) return;
  if (!condition_.empty()) {
    if (!now || !old) return;  // cannot evaluate without both values
    if (!condition_.eval(as_integer(*old), as_integer(*now), static_cast<unsigned>(w.len))) return;
  }
  if (ignored_ < opts_.ignore) {
    ++ignored_;
    return;
  }
  ++w.hits;
  ++total_;
  report(tid, ip, w, async, std::move(old), std::move(now), unwind);
  if (opts_.max_hits && total_ >= opts_.max_hits) done_ = true;
}

void Session::report(pid_t tid, std::uint64_t ip, const Watch& w, bool async,
                     std::optional<std::vector<std::uint8_t>> old_bytes,
                     std::optional<std::vector<std::uint8_t>> new_bytes,
                     const Symbolizer::Unwind& unwind) {
  HitRecord h;
  h.watch = &w;
  h.seq = total_;
  h.tid = tid;
  // /proc/PID/task/TID/comm costs an open per hit: cache it (a rename mid-run shows late).
  auto [it, fresh] = thread_names_.try_emplace(tid);
  if (fresh) it->second = thread_name(pid_, tid);
  h.thread_name = it->second;
  h.ip = ip;
  h.async = async;
  h.site = symbolizer_.access_site(ip, w.spec.access == Access::exec, &h.instruction);
  h.stack = symbolizer_.stack(unwind, h.site, opts_.stack_depth);
  h.old_bytes = std::move(old_bytes);
  h.new_bytes = std::move(new_bytes);
  reporter_->hit(h);
}

void Session::on_exec(pid_t pid) {
  // execve replaced the address space; remove_on_exec removed our events. Watches by name are
  // looked up again in the new program (its libraries: at the loader's rendezvous).
  exec_seen_ = true;
  drain(kDrainAll);  // the old program's hits (its events are gone: the ring only empties)
  collect_counts();
  watches_->reset_after_exec(pid);
  announced_.assign(announced_.size(), false);
  std::fprintf(stderr, "hwbp: process %d called execve: re-arming watches by name in the new "
               "program (address watches are dropped)\n", pid);
  try {
    start(pid, true);
  } catch (const Error& e) {
    std::fprintf(stderr, "hwbp: after execve: %s\n", e.what());
  }
}

std::optional<int> Session::finish(Tracer& tracer, const Tracer::End& end, bool wait_for_exit) {
  watches_->close_all();  // before detaching: no new SIGTRAP of ours can be generated
  drain(kDrainAll);       // every hit made before the events closed is in the ring now
  collect_counts();
  warn_lost();
  if (bpf_) reporter_->set_delivery("bpf", bpf_->stats().lost);
  std::optional<int> status;
  if (end.exited) {
    status = end.status;
  } else {
    tracer.detach(*this);
    if (done_)
      std::fprintf(stderr, "hwbp: stopped watching after %llu hit%s (--max-hits); the program "
                   "continues\n", static_cast<unsigned long long>(total_), total_ == 1 ? "" : "s");
    else if (!Tracer::stop_signal_name().empty())
      std::fprintf(stderr, "hwbp: %s: stopped watching; the program continues\n",
                   Tracer::stop_signal_name().c_str());
  }
  reporter_->finish(watches_->watches(), total_);
  if (!status && wait_for_exit) status = tracer.wait_exit();
  return status;
}

}  // namespace hwbp::cli
