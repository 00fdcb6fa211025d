#include "session.hpp"

#include <link.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "bpf_delivery.hpp"
#include "debug_file_directory.hpp"
#include "engine_refusal.hpp"
#include "hwbp/error.hpp"
#include "option_checks.hpp"
#include "perf/hit_delivery.hpp"
#include "perf/sigtrap_info.hpp"
#include "perf/uprobe.hpp"
#include "ptrace_delivery.hpp"
#include "ptrace/registers.hpp"
#include "symbols/code_location.hpp"
#include "symbols/symbol_error.hpp"
#include "symbols/process_memory.hpp"

namespace hwbp::cli {
namespace {

// How often records are read while nothing else happens (bpf_delivery.hpp).
constexpr std::chrono::milliseconds kTickBudget{3};

std::optional<core::SigData> tool_tag(const siginfo_t& info) {
  const auto trap = perf::perf_trap(info);
  return trap ? core::decode_sig_data(trap->data, core::SigDataOwner::tool) : std::nullopt;
}

}  // namespace

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 0;
}

void add_duration_option(CLI::App& sub, SessionOptions& o) {
  sub.add_option("--duration", o.duration, "stop watching after SEC seconds")->check(seconds_value());
}

void add_session_options(CLI::App& sub, SessionOptions& o) {
  add_report_options(sub, o);
  add_debug_file_directory_option(sub);
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
  sub.add_option("--engine", o.engine,
                 "what serves the watches: hw (debug registers only: exact, at most 4 chunks of "
                 "up to 8 bytes, refused where the machine delivers no debug exceptions), page "
                 "(software: page protection for w/modify watches of any length and number, every "
                 "store completed by hwbp; uprobes for x; no r/rw), auto (debug registers while "
                 "they fire and the watch fits the free slots, else page; default)")
      ->check(CLI::IsMember({"auto", "hw", "page"}))
      ->envname("HWBP_ENGINE");
  sub.add_option("--at", o.at,
                 "arm the watches when execution first reaches LOCATION (a function: after its "
                 "prologue, as GDB's break; FILE:LINE; or 0xADDR) and evaluate them there: "
                 "pointers read then, and the function's parameters and locals may be watched "
                 "until that frame returns")
      ->type_name("LOCATION");
  sub.add_option("--thread", o.thread,
                 "report only the accesses of thread TID (a thread id as in /proc/PID/task; "
                 "with run, the program's main thread, or one alive at the --at stop)")
      ->type_name("TID")
      ->check(CLI::Range(1, std::numeric_limits<int>::max()));
  sub.add_flag("--pending", o.pending,
               "keep names that no loaded module defines, and arm them when a library defining "
               "them is loaded (dlopen)");
}

Session::Session(const SessionOptions& options) : opts_(options) {
  build_report_pipeline(opts_, {}, symbolizer_, core::host_arch(), report_);
  opts_.stack_depth = report_.stack_depth;
  reporter_->set_show_coverage(opts_.flexible);
  engine_ = core::parse_engine_request(opts_.engine).value_or(core::EngineRequest::automatic);
  if (!opts_.at.empty()) {
    at_.emplace();
    at_->text = opts_.at;
    watches_->set_deferred(true);
  }
  choose_delivery();
}

Session::~Session() = default;

void Session::choose_delivery() {
  // --mode says how debug-register hits arrive. Page-engine and uprobe watches always come
  // through the tracer (both modes trace the program), so a mixed set works in either mode;
  // auto does not load the BPF program when no watch can be on the debug registers.
  const bool no_hw = engine_ == core::EngineRequest::page ||
                     (engine_ == core::EngineRequest::automatic && !perf::hits_delivered());
  if (opts_.mode == "bpf" || (opts_.mode == "auto" && !no_hw)) {
    // A stack snapshot per hit, as perf --call-graph dwarf copies (8 KB by default).
    std::uint32_t stack_bytes = opts_.stack_depth <= 1 ? 0 : opts_.stack_depth <= 16 ? 8192 : 16384;
    // --count without per-hit decisions in hwbp: the kernel counts, no record per hit.
    try {
      delivery_ = std::make_unique<BpfDelivery>(*watches_, symbolizer_, *acceptor_, stack_bytes,
                                                   counts_only(opts_) && opts_.thread == 0);  // the kernel counts per process
      return;
    } catch (const Error&) {
      if (opts_.mode == "bpf") throw;  // auto: the ptrace mode needs no privilege
    }
  }
  auto ptrace = std::make_unique<PtraceDelivery>(*watches_, symbolizer_, *acceptor_);
  ptrace_ = ptrace.get();
  delivery_ = std::move(ptrace);
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
  acceptor_->set_pid(pid);
}

void Session::start(Tracer& tracer, bool at_exec_stop, pid_t stopped_tid) {
  const pid_t pid = tracer.pid();
  tracer_ = &tracer;
  open_image(pid);
  if (!arming_) {
    arming_ = std::make_unique<SlotArming>(pid, *watches_, *delivery_);
    arming_->set_all_threads_stopped([&tracer](const std::function<void()>& fn) { tracer.with_all_stopped(fn); });
    if (ptrace_) ptrace_->set_arming(arming_.get());
    page_ = std::make_unique<PageDelivery>(pid, *watches_, symbolizer_, *acceptor_, *reporter_);
    uprobes_ = std::make_unique<UprobeArming>(pid, *watches_, symbolizer_, *acceptor_);
    int3_ = std::make_unique<Int3Arming>(pid, *watches_, symbolizer_, *acceptor_, int3_hooks());
  }
  if (opts_.flexible) arming_->set_flexible(std::chrono::milliseconds(opts_.slice_ms));
  acceptor_->set_only_thread(opts_.thread);
  if (!(at_ && !at_->reached)) check_thread();  // else at the --at stop, where threads exist
  watches_->set_pointers_readable(!at_exec_stop);  // relocated once the loader reports
  watches_->resolve(*table_);
  check_condition_lengths();
  arm_ready(stopped_tid);
  announce();
  if (!exec_seen_) started_ = std::chrono::steady_clock::now();  // --duration counts from here
  startup_complete_ = true;
  // Only a program started at its exec stop has initial libraries still to load (attach: the
  // image is read from the maps now).
  const bool at_waits = at_ && !at_->reached && !arm_at(at_exec_stop);
  if (!watches_->any_pending() && !at_waits) return at_exec_stop ? track_library_loads() : void();
  hook_ = find_loader_hook();
  // At the exec stop only ld.so and the executable are mapped: names of the libraries it will
  // load are resolved when the loader reports them (_dl_debug_state), before any constructor.
  bool wait_for_loader = at_exec_stop && hook_ && !hook_->in_main_executable;
  if (!wait_for_loader && !(opts_.pending && hook_)) {
    if (exec_seen_) return;  // after an exec the program has run: warn (below), never kill
    if (at_waits) throw Error(Errc::invalid_request, at_->not_found);
    fail_unresolved();
  }
  arm_hook(SessionHook::loader, hook_->hook);
  startup_complete_ = !wait_for_loader || exec_seen_;
}

core::EngineFacts Session::engine_facts() const {
  core::EngineFacts f;
  f.hits_delivered = perf::hits_delivered();
  f.page_engine = true;  // the tracer drives the ptrace transport
  f.uprobes = UprobeArming::available();
  f.int3 = true;         // software breakpoints: both modes trace the program
  return f;
}

void Session::arm_ready(pid_t stopped_tid) {
  const core::EngineFacts facts = engine_facts();
  const std::vector<core::WatchId> todo = watches_->ready_to_arm();
  auto decide = [&](Watch& w, bool fits) {
    const core::EngineChoice c = core::choose_engine(engine_, {w.spec.access, fits, opts_.flexible}, facts);
    if (!c.mechanism) throw Error(Errc::invalid_request, fmt::format("watch '{}': {}", w.spec.text, refusal_with_options(c)));
    if (*c.mechanism == core::Mechanism::debug_registers && !w.hw_refusal.empty())
      throw Error(Errc::invalid_request, w.hw_refusal + " (or use --engine page)");
    w.mechanism = c.mechanism;
    w.engine_reason = c.reason;
    w.engine_note = c.note;
  };
  auto arm_software = [&](Watch& w) {
    if (*w.mechanism == core::Mechanism::uprobe) {
      try {
        return uprobes_->arm(w.id);
      } catch (const Error& e) {
        // The kernel refuses some instructions (a lock prefix at a function's entry): an int3
        // under ptrace serves any instruction, and both modes trace the program.
        if (e.sys_errno() != perf::kUprobeRefusesInstruction || !facts.int3) throw;
        w.mechanism = core::Mechanism::int3;
        w.engine_note = "the kernel's uprobes cannot probe this instruction";
      }
    }
    if (*w.mechanism == core::Mechanism::int3) return int3_->arm(w.id);
    if (stopped_tid <= 0)
      throw Error(Errc::invalid_request, fmt::format("watch '{}': no stopped thread to arm the page "
                                                     "engine in", w.spec.text));
    page_->arm(stopped_tid, w.id);
  };
  if (opts_.flexible) {
    // Rotation plans the whole set at once (core::pin_then_rotate): all on the debug registers.
    for (core::WatchId id : todo) decide(watches_->at(id), true);
    arming_->arm_resolved(todo);
    return;
  }
  // In command-line order, each watch where it fits next to those armed before it.
  for (core::WatchId id : todo) {
    Watch& w = watches_->at(id);
    const bool fits = w.hw_refusal.empty() && arming_->fits(w);
    decide(w, fits);
    // The engine's reason says "does not fit the free slots": say which slots hwbp holds.
    if (!fits && w.hw_refusal.empty() && arming_->hook_slots() > 0)
      w.engine_note += (w.engine_note.empty() ? "" : "; ") + arming_->own_slots_note();
    if (*w.mechanism == core::Mechanism::debug_registers) arming_->arm_resolved({id});
    else arm_software(w);
  }
}

std::string Session::arm_hook(SessionHook kind, std::uint64_t addr) {
  // --at and its frame's return stop before the instruction, as GDB's break: a store made by
  // the instruction at LOCATION is seen by the watches armed there. A uprobe cannot (the kernel
  // runs the probed instruction before the SIGTRAP: kernel/events/uprobes.c, the single step
  // out of line happens before the return to user mode), nor a debug register without a slot;
  // an int3 under ptrace can, takes no slot, and is removed at its first stop (no step).
  if (kind != SessionHook::loader) {
    int3_->arm_hook(kind, addr);
    return "an int3 (no debug-register slot; it stops before the instruction, as GDB's break)";
  }
  // A uprobe needs no slot and fires where debug exceptions are silent; without the privilege
  // it is an execute debug register, as before, or an int3 where debug exceptions are silent.
  if (UprobeArming::available()) {
    uprobes_->arm_hook(kind, addr);
    return "a uprobe (no debug-register slot)";
  }
  if (perf::hits_delivered()) {
    arming_->arm_hook(kind, addr);
    announce_loader_slot();
    return fmt::format("an execute debug register (1 of the {} slots)", watches_->arch().data_slots);
  }
  int3_->arm_hook(kind, addr);
  return "an int3 software breakpoint (no debug-register slot)";
}

void Session::announce_loader_slot() {
  // Every slot accounted for: the user sees the one hwbp takes for itself (once).
  auto slot = arming_->loader_slot();
  if (!slot || loader_slot_announced_) return;
  loader_slot_announced_ = true;
  std::fprintf(stderr, "hwbp: debug-register slot %d is hwbp's own breakpoint on the dynamic loader "
               "(it arms names of libraries loaded later and reads pointers once relocated; "
               "uprobes, which need no slot, are not available: root and a kernel with uprobes); "
               "%u slot%s left for watches until it is removed\n", *slot, arming_->free_slot_count(),
               arming_->free_slot_count() == 1 ? " is" : "s are");
}

void Session::disarm_hook(SessionHook kind) {
  uprobes_->disarm_hook(kind);
  int3_->disarm_hook(kind);
  arming_->disarm_hook(kind);  // give the slot back
}

void Session::on_hook(SessionHook kind, pid_t tid) {
  switch (kind) {
    case SessionHook::loader: return on_loader_hit(tid);
    case SessionHook::at:
      // The program has run up to here: an error ends watching (done()) and the tracer lets it
      // go with nothing armed, rather than leaving it stopped behind an exception.
      try {
        on_at_hit(tid);
      } catch (const std::exception& e) {
        at_failure_ = e.what();
      }
      return;
    case SessionHook::frame_return: return on_frame_return(tid);
  }
}

bool Session::arm_at(bool may_wait) {
  if (at_->addr) return true;
  symbols::CodeLocation loc;
  try {
    loc = symbols::resolve_code_location(*table_, at_->text);
  } catch (const symbols::SymbolError& e) {
    if (e.symbol_code() != symbols::SymbolErrc::not_found) throw Error(Errc::invalid_request, e.what());
    at_->not_found = e.what();
    if (may_wait || opts_.pending) return false;  // a library loaded later may define it
    throw Error(Errc::invalid_request, at_->not_found);
  }
  at_->addr = loc.address;
  at_->description = loc.description;
  const std::string by = arm_hook(SessionHook::at, loc.address);
  std::fprintf(stderr, "hwbp: --at %s: the watches are armed when execution first reaches %s "
               "(%#llx), by %s\n", at_->text.c_str(), loc.description.c_str(),
               static_cast<unsigned long long>(loc.address), by.c_str());
  return true;
}

namespace {

symbols::FrameState frame_state(const ptrace::GeneralRegisters& r) {
  // DWARF numbering (symbols/dwarf_registers.hpp).
  symbols::FrameState s;
  s.regs = {r.rax, r.rdx, r.rcx, r.rbx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8,
            r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rip};
  return s;
}

}  // namespace

void Session::on_at_hit(pid_t tid) {
  if (!at_ || at_->reached) return;
  at_->reached = true;
  disarm_hook(SessionHook::at);  // first reach only, as a temporary breakpoint (GDB's tbreak)
  image_->refresh();
  check_thread();
  const symbols::StoppedFrame frame = symbols::frame_of(*image_, frame_state(ptrace::get_registers(tid)));
  std::fprintf(stderr, "hwbp: --at %s: reached in thread %d; arming the watches\n", at_->text.c_str(), tid);
  watches_->set_deferred(false);
  watches_->set_pointers_readable(true);
  watches_->set_frame(&frame);
  try {
    watches_->resolve(*table_);
  } catch (...) {
    watches_->set_frame(nullptr);
    throw;
  }
  watches_->set_frame(nullptr);
  check_condition_lengths();
  arm_ready(tid);
  announce();
  if (watches_->any_pending() && !opts_.pending) fail_unresolved();
  for (const auto& w : watches_->all())
    if (w.in_frame && w.state == Watch::State::armed) at_->frame_watches.push_back(w.id);
  if (at_->frame_watches.empty()) return;
  at_->frame_tid = tid;
  at_->frame_function = frame.function;
  if (!frame.cfa) {
    std::fprintf(stderr, "hwbp: note: no call frame information covers %s: the watches of its "
                 "locals are not ended when it returns\n", frame.function.c_str());
    return;
  }
  at_->frame_cfa = *frame.cfa;
  // x86-64: the call pushed the return address just below the caller's stack pointer (the CFA).
  const std::uint64_t return_address =
      as_integer(symbols::ProcessMemory(pid_).read(*frame.cfa - 8, 8));
  const std::string by = arm_hook(SessionHook::frame_return, return_address);
  for (core::WatchId id : at_->frame_watches)
    std::fprintf(stderr, "hwbp: note: '%s' is in the frame of %s (thread %d): its watch ends when "
                 "that frame returns (its return to %#llx is caught by %s)\n", watches_->at(id).label.c_str(),
                 frame.function.c_str(), tid, static_cast<unsigned long long>(return_address), by.c_str());
}

void Session::check_thread() const {
  if (opts_.thread == 0) return;
  if (::access(fmt::format("/proc/{}/task/{}", pid_, opts_.thread).c_str(), F_OK) == 0) return;
  throw Error(Errc::invalid_request,
              fmt::format("--thread {}: process {} has no thread {}{}", opts_.thread, pid_, opts_.thread,
                          at_ ? fmt::format(" when it reaches --at {}", at_->text)
                              : fmt::format(" (its threads: ls /proc/{}/task)", pid_)));
}

void Session::on_frame_return(pid_t tid) {
  if (!at_ || at_->frame_watches.empty() || tid != at_->frame_tid) return;
  // The same return address is reached by deeper calls (recursion) with the stack pointer at
  // least 8 below this frame's CFA; this frame's return leaves it at the CFA (a uprobe or int3
  // reports one instruction later: a push may take it to CFA - 8, never lower).
  const std::uint64_t sp = ptrace::get_registers(tid).rsp;
  if (sp + 8 <= at_->frame_cfa) return;
  end_frame_watches(tid, fmt::format("{} returned, ending the frame that held it",
                                     at_->frame_function.empty() ? "its function" : at_->frame_function));
}

void Session::end_frame_watches(pid_t stopped_tid, const std::string& reason) {
  disarm_hook(SessionHook::frame_return);
  const auto ids = std::move(at_->frame_watches);
  at_->frame_watches.clear();
  for (core::WatchId id : ids) {
    Watch& w = watches_->at(id);
    if (w.state != Watch::State::armed) continue;
    delivery_->poll(kStopBudget);
    delivery_->watch_ending(id);  // its hits before the end are reported first, not after their hold
    if (w.mechanism == core::Mechanism::debug_registers) arming_->disarm(id);
    else if (w.mechanism == core::Mechanism::page_protection && stopped_tid > 0) page_->disarm(stopped_tid, id);
    w.state = Watch::State::dropped;
    reporter_->watch_ended(w, stopped_tid, {}, reason);
  }
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
  auto& ws = watches_->all();
  announced_.resize(ws.size(), false);
  for (std::size_t i = 0; i < ws.size(); ++i) {
    if (announced_[i] || ws[i].state != Watch::State::armed) continue;
    announced_[i] = true;
    std::string engine;
    if (ws[i].mechanism)
      engine = fmt::format(" by {} ({}{}{})", core::to_string(*ws[i].mechanism), core::to_string(ws[i].engine_reason),
                           ws[i].engine_note.empty() ? "" : "; ", ws[i].engine_note);
    std::fprintf(stderr, "hwbp: watching %s: %zu byte%s at %#llx (%s) in process %d%s%s%s%s\n",
                 ws[i].label.c_str(), ws[i].len, ws[i].len == 1 ? "" : "s",
                 static_cast<unsigned long long>(ws[i].addr), to_string(ws[i].spec.access), pid_,
                 ws[i].rotating ? " (rotating)" : "", ws[i].type.empty() ? "" : ", type ",
                 ws[i].type.c_str(), engine.c_str());
    if (ws[i].pointer_read)
      std::fprintf(stderr, "hwbp: note: '%s' follows a pointer read now, at arming; the watch stays "
                   "on this address if the pointer changes later (as GDB's watch -l)\n",
                   ws[i].label.c_str());
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
  const auto& rot = arming_->rotating();
  if (rot.empty() || rot == announced_rotation_) return;
  announced_rotation_ = rot;
  std::string names;
  for (core::WatchId id : rot) names += (names.empty() ? "" : ", ") + watches_->at(id).spec.text;
  std::size_t slots = arming_->rotation_slots();
  std::fprintf(stderr, "hwbp: %zu watch%s rotate%s through %zu free slot%s, %lld ms each: %s\n",
               rot.size(), rot.size() == 1 ? "" : "es", rot.size() == 1 ? "s" : "", slots,
               slots == 1 ? "" : "s", static_cast<long long>(arming_->slice().count()),
               names.c_str());
}

std::optional<std::chrono::steady_clock::time_point> Session::next_tick() const {
  auto rotation = arming_ ? arming_->next_rotation() : std::nullopt;
  auto poll = delivery_->next_poll();
  if (!poll) return rotation;
  return rotation ? std::min(*rotation, *poll) : *poll;
}

void Session::on_tick() {
  // The rotation first: its time slices are what --flexible promises; reading records can wait.
  auto now = std::chrono::steady_clock::now();
  auto rotation = arming_ ? arming_->next_rotation() : std::nullopt;
  if (rotation && now >= *rotation) arming_->rotate();
  auto poll = delivery_->next_poll();
  if (poll && now >= *poll) delivery_->poll(kTickBudget);
}

void Session::fail_unresolved() const {
  for (const auto& w : watches_->all())
    if (w.state == Watch::State::pending)
      throw Error(Errc::invalid_request,
                  fmt::format("watch '{}': {}{}", w.spec.text, w.unresolved_reason,
                              opts_.pending ? "" : " (use --pending to wait for a dlopen)"));
  throw Error(Errc::invalid_request, "unresolved watch");
}

void Session::check_condition_lengths() const {
  if (opts_.condition.empty()) return;
  for (const auto& w : watches_->all())
    if (w.len > 8 || w.spec.access == Access::exec)
      throw Error(Errc::invalid_request,
                  fmt::format("--if compares integer values of at most 8 bytes; watch '{}' is {}",
                              w.spec.text, w.spec.access == Access::exec ? "an execute watch"
                                                                         : fmt::format("{} bytes", w.len)));
  const Condition condition = Condition::parse(opts_.condition);
  for (const auto& w : watches_->all())
    if (w.len > 0)
      if (auto why = condition.check_width(static_cast<unsigned>(w.len)); !why.empty())
        throw Error(Errc::invalid_request, fmt::format("watch '{}': {}", w.spec.text, why));
}

bool Session::owns(const siginfo_t& info) const {
  // Every SIGTRAP with the tool's tag is ours (a stale one of a closed event too: the program
  // has no handler for it); the delivery may own other stops.
  return tool_tag(info).has_value() || delivery_->owns(info);
}

void Session::on_trap(pid_t tid, const siginfo_t& info) {
  if (!arming_) return;
  delivery_->poll(kStopBudget);  // hits before this stop (e.g. before a dlopen) are reported first
  if (auto tag = tool_tag(info)) {
    if (auto hook = uprobes_->hook_of(*tag)) return on_hook(*hook, tid);
    if (auto hook = arming_->hook_of(*tag)) return on_hook(*hook, tid);
    if (UprobeArming::owns(*tag)) return uprobes_->on_stop(tid, *tag);
  }
  delivery_->on_stop(tid, info);
}

Int3Arming::Hooks Session::int3_hooks() {
  Int3Arming::Hooks h;
  h.fault = [this](pid_t tid, const siginfo_t& info) { return page_fault(tid, info); };
  h.already_stopped = [this](pid_t tid) { return page_ && page_->transport().has_deferred(tid); };
  h.resume_request = [this](pid_t) { return page_ ? page_->transport().resume_request() : int(PTRACE_CONT); };
  return h;
}

bool Session::page_fault(pid_t tid, const siginfo_t& info) {
  return page_ && page_->used() && info.si_signo == SIGSEGV && page_->on_signal(tid, info);
}

bool Session::resume(pid_t tid, int sig) {
  // Signals the int3 engine held while it stepped this thread come back as stops first.
  if (int3_ && int3_->holds(tid))
    return int3_->resume(tid, page_ ? page_->transport().resume_request() : int(PTRACE_CONT), sig);
  return page_ ? page_->resume(tid, sig) : TraceHandler::resume(tid, sig);
}

std::optional<std::pair<pid_t, int>> Session::take_deferred() {
  if (int3_)
    if (auto d = int3_->take_deferred()) return std::make_pair(d->tid, d->status);
  return page_ ? page_->take_deferred() : std::nullopt;
}

bool Session::on_signal(pid_t tid, const siginfo_t& info) {
  // An int3 of ours (reported and stepped over); a store to a protected page (SIGSEGV,
  // SEGV_ACCERR) the page engine completes; any other signal, and a fault that is the
  // program's own, goes to the program.
  if (int3_ && info.si_signo == SIGTRAP) {
    const Int3Arming::Trap trap = int3_->on_signal(tid, info);
    if (trap == Int3Arming::Trap::hook) {
      on_hook(int3_->last_hook(), tid);
      int3_->finish_hook(tid);
    }
    if (trap != Int3Arming::Trap::not_ours) return true;
  }
  return page_fault(tid, info);
}

bool Session::may_consume_fault(const siginfo_t& info) const {
  if (int3_ && int3_->may_consume(info)) return true;
  return page_ && page_->used() && info.si_signo == SIGSEGV && info.si_code == SEGV_ACCERR;
}

void Session::on_syscall_stop(pid_t tid) {
  if (page_) page_->on_syscall_stop(tid);
}

bool Session::on_new_task(pid_t creator, pid_t child, int event, std::optional<int> first) {
  if (int3_) int3_->on_new_task(creator, child, event, first);  // a fork child: our bytes out
  if (uprobes_ && event == PTRACE_EVENT_CLONE) uprobes_->on_new_thread(child);  // not inherited
  return page_ ? page_->on_new_task(creator, child, event, first)
               : TraceHandler::on_new_task(creator, child, event, first);
}

bool Session::exec_detaches(pid_t tid) {
  const bool vfork_child = page_ && page_->on_exec(tid);
  if (vfork_child && int3_) int3_->on_thread_exit(tid);  // it left our memory
  return vfork_child;
}

void Session::stop_watching(Tracer& tracer) {
  close_events();
  if (page_ && page_->needs_release())
    tracer.with_stopped_thread(*this, [this](pid_t tid) { page_->release(tid); });
}

bool Session::traps_outstanding() const {
  for (const auto& w : watches_->all()) {
    if (w.mechanism != core::Mechanism::debug_registers) continue;
    const auto unseen = ptrace_->unseen_traps(w.id);
    if (unseen && *unseen > 0) return true;
  }
  return false;
}

void Session::drain_traps(Tracer& tracer) {
  if (!ptrace_ || !arming_ || done()) return;
  arming_->disable_all();
  // A SIGTRAP reaches its stop as soon as the thread returns to user mode: microseconds, unless
  // the thread blocks it (then never).
  constexpr std::chrono::milliseconds kDrain{250};
  tracer.settle(*this, std::chrono::steady_clock::now() + kDrain, [this] { return !traps_outstanding(); });
}

std::uint64_t Session::count_lost_traps() {
  // --max-hits / a failed output: hits after that point are dropped on purpose, not lost.
  if (!ptrace_ || !arming_ || done()) return 0;
  std::uint64_t total = 0;
  for (auto& w : watches_->all()) {
    if (w.mechanism != core::Mechanism::debug_registers) continue;
    const auto unseen = ptrace_->unseen_traps(w.id);  // what the delivery marked its hits by
    if (!unseen || *unseen <= 0) continue;
    w.lost = static_cast<std::uint64_t>(*unseen);
    total += w.lost;
    std::fprintf(stderr,
                 "hwbp: watch '%s': %llu hit%s counted by the kernel never reached hwbp: no SIGTRAP "
                 "stop came (the writing thread blocks SIGTRAP, e.g. with sigprocmask; --mode bpf "
                 "sees them)\n",
                 w.spec.text.c_str(), static_cast<unsigned long long>(w.lost), w.lost == 1 ? "" : "s");
  }
  return total;
}

bool Session::loader_map_consistent() const {
  // <link.h>: struct r_debug { int r_version; struct link_map* r_map; ElfW(Addr) r_brk;
  // enum { RT_CONSISTENT, RT_ADD, RT_DELETE } r_state; ... }. Unknown (unreadable): go ahead.
  if (!hook_ || !hook_->r_debug) return true;
  try {
    auto bytes = symbols::ProcessMemory(pid_).read(hook_->r_debug + offsetof(r_debug, r_state),
                                                   sizeof(r_debug::r_state));
    return as_integer(bytes) == r_debug::RT_CONSISTENT;
  } catch (const std::exception&) {
    return true;
  }
}

void Session::on_loader_hit(pid_t tid) {
  if (!loader_map_consistent()) return;  // RT_ADD / RT_DELETE: the map is changing
  image_->refresh();
  // RT_CONSISTENT comes after ld.so relocated the objects (glibc elf/rtld.c, dl_main: the
  // relocation loop runs before "Notify the debugger all new objects are now ready to go").
  watches_->set_pointers_readable(true);
  watches_->resolve(*table_);
  check_condition_lengths();
  arm_ready(tid);
  announce();
  // --at in a library: found now that the loader mapped it; a typo fails at start-up.
  const bool at_waits = at_ && !at_->reached && !arm_at(startup_complete_);
  if (!startup_complete_) {
    // The initial libraries are in and no code of the program ran yet: a name still unknown is
    // a typo (fail now, the caller may still kill the program), unless --pending.
    if (watches_->any_pending() && !opts_.pending) fail_unresolved();
    startup_complete_ = true;
  }
  // Tracking (bpf mode) ends with the initial libraries: the image then holds every module
  // the program's startup mapped (libc among them). A uprobe left on ld.so for the whole run
  // broke a VMM under hwbp: its KVM_RUN failed with EFAULT (tests/kvm/cli_vmm_test.sh, bpf).
  if (!watches_->any_pending() && !at_waits) disarm_loader_hook();
}

bool Session::tracks_library_loads() const { return uses_bpf() && UprobeArming::available(); }

void Session::track_library_loads() {
  // The bpf mode explains hits after the fact, from its ring: the image must know a library
  // before the address space can change under the hits made in it (an execve right after a
  // write in libc: env -i's clearenv, then exec). The loader hook refreshes the image at each
  // load (on_loader_hit); as a uprobe it takes no slot and costs one stop per load.
  if (!tracks_library_loads()) return;
  hook_ = find_loader_hook();
  if (hook_) uprobes_->arm_hook(SessionHook::loader, hook_->hook);
}

void Session::on_thread_exit(pid_t tid) {
  delivery_->poll(kStopBudget);  // the address space still exists: its code can be read
  acceptor_->forget_thread(tid);  // a later thread may reuse the id
  if (page_) page_->on_thread_exit(tid);
  if (int3_) int3_->on_thread_exit(tid);
  if (uprobes_) uprobes_->on_thread_exit(tid);
  // The --at frame's thread ended (pthread_exit below it): so did the frame.
  if (at_ && !at_->frame_watches.empty() && tid == at_->frame_tid)
    end_frame_watches(0, "the thread of the frame that held it exited");
}

void Session::on_exec(pid_t pid) {
  // execve replaced the address space; remove_on_exec removed our events. Watches by name are
  // looked up again in the new program (its libraries: at the loader's rendezvous).
  exec_seen_ = true;
  // The old program's hits (its events are gone: the ring only empties), explained against
  // its image: the new program's maps and memory would name other code, or none.
  symbolizer_.address_space_gone();
  delivery_->flush();
  arming_->reset_after_exec(pid);
  uprobes_->reset_after_exec(pid);
  int3_->reset_after_exec(pid);
  watches_->reset_after_exec();
  if (at_) {
    // The new program is watched from its own --at LOCATION, if it has one.
    const std::string text = at_->text;
    at_.emplace();
    at_->text = text;
    watches_->set_deferred(true);
  }
  announced_.assign(announced_.size(), false);
  std::fprintf(stderr, "hwbp: process %d called execve: re-arming watches by name in the new "
               "program (address watches are dropped)\n", pid);
  try {
    start(*tracer_, true, pid);  // the same tracer: the exec'd thread has the leader's id
  } catch (const Error& e) {
    std::fprintf(stderr, "hwbp: after execve: %s\n", e.what());
  }
}

std::optional<int> Session::finish(Tracer& tracer, const Tracer::End& end, bool wait_for_exit) {
  // Before detaching: no new SIGTRAP of ours can be generated, no page stays read-only.
  if (!end.exited) {
    drain_traps(tracer);
    stop_watching(tracer);
  } else {
    close_events();
  }
  delivery_->flush();   // every hit made before the events closed is read now
  delivery_->warn_lost();
  const std::uint64_t lost_traps = count_lost_traps();
  reporter_->set_delivery(delivery_->mode(), delivery_->lost() + lost_traps);
  std::optional<int> status;
  if (end.exited) {
    status = end.status;
    // --max-hits reached only when the last hits settled (ptrace mode holds hits until no earlier
    // store can still come): the program ended first, watched to its end; later hits are dropped.
    if (acceptor_->done())
      std::fprintf(stderr, "hwbp: reported the first %llu hit%s (--max-hits); the program ran to its end, "
                   "later hits are not reported\n",
                   static_cast<unsigned long long>(acceptor_->total()), acceptor_->total() == 1 ? "" : "s");
  } else {
    tracer.detach(*this);
    if (acceptor_->done())
      std::fprintf(stderr, "hwbp: stopped watching after %llu hit%s (--max-hits); the program "
                   "continues\n", static_cast<unsigned long long>(acceptor_->total()),
                   acceptor_->total() == 1 ? "" : "s");
    else if (!Tracer::stop_signal_name().empty() && !output_failed())
      std::fprintf(stderr, "hwbp: %s: stopped watching; the program continues\n",
                   Tracer::stop_signal_name().c_str());
  }
  if (at_failed()) std::fprintf(stderr, "hwbp: %s\n", at_failure_.c_str());
  if (at_never_reached())
    std::fprintf(stderr, "hwbp: --at %s: execution never reached %s; nothing was watched\n",
                 at_->text.c_str(), at_->description.empty() ? at_->text.c_str() : at_->description.c_str());
  reporter_->finish(watches_->all(), acceptor_->total());
  if (int e = reporter_->write_error()) {
    std::string where = opts_.output.empty() ? "standard output" : "'" + opts_.output + "'";
    std::fprintf(stderr, "hwbp: cannot write hits to %s: %s%s\n", where.c_str(), std::strerror(e),
                 status ? "" : "; stopped watching, the program continues");
  }
  if (!status && wait_for_exit) status = tracer.wait_exit();
  return status;
}

}  // namespace hwbp::cli
