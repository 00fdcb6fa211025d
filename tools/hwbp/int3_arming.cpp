#include "int3_arming.hpp"

#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <cerrno>
#include <string>

#include <fmt/format.h>

#include "hwbp/error.hpp"
#include "perf/threads.hpp"
#include "ptrace/memory_map.hpp"
#include "ptrace/others_stop.hpp"
#include "ptrace/proc_status.hpp"
#include "ptrace/registers.hpp"
#include "ptrace/sys_error.hpp"
#include "symbols/unwinder.hpp"

namespace hwbp::cli {

Int3Arming::Int3Arming(pid_t pid, WatchSet& watches, Symbolizer& symbolizer, HitSink& sink, Hooks hooks)
    : pid_(pid), watches_(watches), symbolizer_(symbolizer), sink_(sink), hooks_(std::move(hooks)),
      tracee_(pid) {}

void Int3Arming::arm(core::WatchId id) {
  Watch& w = watches_.at(id);
  // An int3 written over data would change the program's values: only executable code.
  const auto maps = ptrace::read_maps(pid_);
  const ptrace::Mapping* m = ptrace::find_mapping(maps, w.addr);
  if (!m || !(m->prot & PROT_EXEC))
    throw Error(Errc::invalid_request,
                fmt::format("watch '{}': {:#x} is not in executable code, where an execute "
                            "breakpoint (int3) can be placed", w.spec.text, w.addr));
  try {
    breakpoints_.insert(tracee_.memory(), w.addr);
  } catch (const Error& e) {
    throw Error(Errc::invalid_request,
                fmt::format("watch '{}': cannot place a software breakpoint at {:#x}: {}", w.spec.text,
                            w.addr, e.what()));
  }
  at_.emplace(w.addr, id);
  w.mark_armed_always(core::CoverageClock::Clock::now());
}

void Int3Arming::arm_hook(SessionHook kind, std::uint64_t addr) {
  if (session_hooks_.count(kind)) return;
  breakpoints_.insert(tracee_.memory(), addr);
  session_hooks_.emplace(kind, addr);
}

void Int3Arming::disarm_hook(SessionHook kind) {
  auto it = session_hooks_.find(kind);
  if (it == session_hooks_.end()) return;
  breakpoints_.remove(tracee_.memory(), it->second);
  session_hooks_.erase(it);
}

void Int3Arming::disarm_hooks() {
  while (!session_hooks_.empty()) disarm_hook(session_hooks_.begin()->first);
}

bool Int3Arming::may_consume(const siginfo_t& info) const noexcept {
  return used() && info.si_signo == SIGTRAP && info.si_code == SI_KERNEL;
}

Int3Arming::Trap Int3Arming::on_signal(pid_t tid, const siginfo_t& info) {
  // An int3 trap (arch/x86/kernel/traps.c: do_int3_user() -> do_trap(.., sicode 0) ->
  // force_sig(SIGTRAP): si_code SI_KERNEL), rip one past the int3.
  if (!may_consume(info)) return Trap::not_ours;
  ptrace::GeneralRegisters regs{};
  try {
    regs = ptrace::get_registers(tid);
  } catch (const Error&) {
    return Trap::not_ours;
  }
  const std::uint64_t addr = regs.rip - 1;
  if (!breakpoints_.ever_inserted(addr)) return Trap::not_ours;  // the program's own int3
  // Back onto the watched instruction: it has not run (the int3 replaced it), and the stack is
  // unwound from there, as for a hardware execute breakpoint (the CFI at addr + 1 would describe
  // the middle of the instruction).
  regs.rip = addr;
  ptrace::set_registers(tid, regs);
  // Removed meanwhile (the watch stopped, detach): the real instruction runs on resume.
  if (!breakpoints_.inserted(addr)) return Trap::hit;
  std::optional<SessionHook> hook;
  for (const auto& [kind, at] : session_hooks_)
    if (at == addr) hook = kind;
  if (hook && *hook != SessionHook::loader) {
    last_hook_ = *hook;
    held_hook_ = std::make_pair(tid, addr);  // finish_hook() steps over it, if it stays
    return Trap::hook;
  }
  report(tid, addr);
  try {
    step_over(tid, addr);
  } catch (const ptrace::ThreadGone&) {
    // Killed meanwhile: its exit is among the deferred stops.
  }
  if (hook) last_hook_ = *hook;
  return hook ? Trap::hook : Trap::hit;
}

void Int3Arming::finish_hook(pid_t tid) {
  if (!held_hook_ || held_hook_->first != tid) return;
  const std::uint64_t addr = held_hook_->second;
  held_hook_.reset();
  if (!breakpoints_.inserted(addr)) return;  // removed: the real instruction runs on resume
  report(tid, addr);
  try {
    step_over(tid, addr);
  } catch (const ptrace::ThreadGone&) {
    // Killed meanwhile: its exit is among the deferred stops.
  }
}

void Int3Arming::report(pid_t tid, std::uint64_t addr) {
  auto [first, last] = at_.equal_range(addr);
  for (auto it = first; it != last; ++it) {
    const Watch& w = watches_.at(it->second);
    if (w.state != Watch::State::armed || sink_.done()) continue;
    HitEvent h;
    h.watch = w.id;
    h.tid = tid;
    h.pc = addr;
    h.pc_is = PcIs::the_access;
    if (auto image = symbolizer_.image()) {
      symbols::ProcessImage& img = *image;
      h.unwind = [&img, tid](std::size_t depth) { return symbols::backtrace_thread(img, tid, true, depth); };
    }
    sink_.accept(std::move(h));
  }
}

void Int3Arming::step_over(pid_t tid, std::uint64_t addr) {
  // Nothing else of the program runs while the byte is lifted (see the header); a process with
  // one thread needs no stop.
  std::optional<ptrace::OthersStop> others;
  if (perf::list_threads(pid_).size() > 1 || !vfork_children_.empty())
    others.emplace(tracee_, tid, std::vector<pid_t>(vfork_children_.begin(), vfork_children_.end()),
                   ptrace::OthersStop::Hooks{hooks_.already_stopped, hooks_.resume_request});
  const ptrace::RemoteMemory& memory = tracee_.memory();
  breakpoints_.lift(memory, addr);
  ptrace::Tracee::StepResult r;
  try {
    r = tracee_.step(tid);
    // A fault: the instruction did not run. A store to a page the page engine protects is
    // completed by it now, while the real byte is in place (it decodes the instruction from
    // memory); otherwise the fault is the program's, delivered when the tracer resumes it.
    if (r.faulted && !(hooks_.fault && hooks_.fault(tid, r.info))) tracee_.hold(tid, r.info);
  } catch (...) {
    breakpoints_.lower(memory, addr);
    throw;
  }
  breakpoints_.lower(memory, addr);
}

void Int3Arming::on_new_task(pid_t creator, pid_t child, int event, std::optional<int>& first) {
  if (ptrace::shares_address_space(creator, child, event)) {
    // A vfork child (CLONE_VM, another thread group) runs in our memory until it execs.
    if (ptrace::status_field(child, "Tgid") != std::to_string(pid_)) vfork_children_.insert(child);
    return;
  }
  if (!breakpoints_.any()) return;
  // A separate process: its private copy of the text has our int3 bytes, and no tracer will
  // handle them once it is let go. Written back before it runs one instruction.
  if (!first) {
    int status = 0;
    while (::waitpid(child, &status, __WALL) < 0)
      if (errno != EINTR) return;  // gone before it ran
    first = status;
  }
  try {
    const ptrace::RemoteMemory memory(child);
    breakpoints_.restore_all(memory, false);
  } catch (const Error&) {
    // Killed before it ran: nothing to clean.
  }
}

void Int3Arming::on_thread_exit(pid_t tid) {
  vfork_children_.erase(tid);
  tracee_.forget(tid);
}

void Int3Arming::close_all() {
  breakpoints_.restore_all(tracee_.memory(), true);
  const auto now = core::CoverageClock::Clock::now();
  for (auto& [addr, id] : at_) watches_.at(id).mark_disarmed(now);
  at_.clear();
  session_hooks_.clear();
}

void Int3Arming::reset_after_exec(pid_t pid) {
  pid_ = pid;
  breakpoints_.forget_all();
  at_.clear();
  session_hooks_.clear();
  vfork_children_.clear();
  tracee_.on_exec();
}

}  // namespace hwbp::cli
