#include "uprobe_arming.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>

#include <fmt/format.h>

#include "hwbp/error.hpp"
#include "perf/threads.hpp"
#include "perf/uprobe.hpp"
#include "symbols/unwinder.hpp"

namespace hwbp::cli {
namespace {

// Effective capabilities (/proc/self/status CapEff): CAP_PERFMON (38) or CAP_SYS_ADMIN (21),
// which the uprobe PMU requires (kernel/events/core.c: perf_uprobe_event_init()).
bool perf_privileged() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("CapEff:", 0) == 0) {
      const std::uint64_t caps = std::strtoull(line.c_str() + 7, nullptr, 16);
      return ((caps >> 38) & 1u) || ((caps >> 21) & 1u);
    }
  return false;
}

}  // namespace

bool UprobeArming::available() {
  static const bool yes = perf::uprobe_pmu_type() >= 0 && perf_privileged();
  return yes;
}

UprobeArming::Probe UprobeArming::open_probe(std::uint64_t addr, std::uint16_t slot,
                                             const std::string& what) const {
  auto where = perf::file_location(pid_, addr);
  if (!where)
    throw Error(Errc::invalid_request,
                fmt::format("{}: {:#x} is not in a file-backed mapping, where uprobes can be placed",
                            what, addr));
  Probe p;
  p.addr = addr;
  perf::UprobeAttr& a = p.attr;
  a.where = *where;
  a.addr = addr;
  a.disabled = true;
  a.sigtrap = true;
  a.remove_on_exec = true;
  a.sig_data = core::encode_sig_data({core::SigDataOwner::tool, 0, slot});
  // Every thread, re-scanning until no new one appears (perf/thread_coverage.hpp's way): the
  // caller holds every thread stopped or the program is at its exec stop, so none is in clone().
  std::set<pid_t> done;
  for (bool found = true; found;) {
    found = false;
    for (pid_t tid : perf::list_threads(pid_)) {
      if (done.count(tid)) continue;
      open_on_thread(p, tid);
      done.insert(tid);
      found = true;
    }
  }
  for (auto& [tid, ev] : p.events) ev.enable();
  return p;
}

void UprobeArming::open_on_thread(Probe& p, pid_t tid) {
  perf::Event ev;
  const int rc = perf::try_open_uprobe(p.attr, tid, -1, ev);
  if (rc == -ESRCH) return;  // exited meanwhile
  if (rc != 0) perf::open_uprobe(p.attr, tid);  // throws the explained error
  p.events[tid] = std::move(ev);
}

void UprobeArming::on_new_thread(pid_t tid) {
  // A clone without CLONE_THREAD also reports PTRACE_EVENT_CLONE: another process, which the
  // inherit_thread rule of the other events leaves out as well.
  if (::access(fmt::format("/proc/{}/task/{}", pid_, tid).c_str(), F_OK) != 0) return;
  auto add = [tid](Probe& p) {
    open_on_thread(p, tid);
    if (auto it = p.events.find(tid); it != p.events.end()) it->second.enable();
  };
  for (auto& [slot, entry] : probes_) add(entry.second);
  for (auto& [kind, p] : hooks_) add(p);
}

void UprobeArming::on_thread_exit(pid_t tid) {
  auto drop = [this, tid](Probe& p) {
    auto it = p.events.find(tid);
    if (it == p.events.end()) return;
    it->second.disable();
    closer_.close_later(std::move(it->second));
    p.events.erase(it);
  };
  for (auto& [slot, entry] : probes_) drop(entry.second);
  for (auto& [kind, p] : hooks_) drop(p);
}

void UprobeArming::close_probe(Probe& p) {
  for (auto& [tid, ev] : p.events) ev.disable();  // first, all of them: no SIGTRAP from here on
  for (auto& [tid, ev] : p.events) closer_.close_later(std::move(ev));
  p.events.clear();
}

void UprobeArming::arm(core::WatchId id) {
  Watch& w = watches_.at(id);
  const std::uint16_t slot = next_slot_;
  if (slot == kHookSlotBase) throw Error(Errc::no_slots, "too many execute breakpoints");
  probes_[slot] = {id, open_probe(w.addr, slot, fmt::format("watch '{}'", w.spec.text))};
  ++next_slot_;
  w.mark_armed_always(core::CoverageClock::Clock::now());
}

void UprobeArming::arm_hook(SessionHook kind, std::uint64_t addr) {
  if (hooks_.count(kind)) return;
  hooks_.emplace(kind, open_probe(addr, static_cast<std::uint16_t>(kHookSlotBase + static_cast<unsigned>(kind)),
                                  describe(kind)));
}

void UprobeArming::on_stop(pid_t tid, const core::SigData& tag) {
  auto it = probes_.find(tag.slot);
  if (it == probes_.end() || sink_.done()) return;
  const Watch& w = watches_.at(it->second.first);
  if (w.state != Watch::State::armed) return;
  HitEvent h;
  h.watch = w.id;
  h.tid = tid;
  h.pc = w.addr;  // the probed instruction (the thread is past it: uprobes step it first)
  h.pc_is = PcIs::the_access;
  if (auto image = symbolizer_.image()) {
    symbols::ProcessImage& img = *image;
    h.unwind = [&img, tid](std::size_t depth) { return symbols::backtrace_thread(img, tid, true, depth); };
  }
  sink_.accept(std::move(h));
}

void UprobeArming::disarm_hook(SessionHook kind) {
  auto it = hooks_.find(kind);
  if (it == hooks_.end()) return;
  close_probe(it->second);
  hooks_.erase(it);
}

void UprobeArming::disarm_hooks() {
  for (auto& [kind, p] : hooks_) close_probe(p);
  hooks_.clear();
}

void UprobeArming::close_all() {
  const auto now = core::CoverageClock::Clock::now();
  for (auto& [slot, entry] : probes_) {
    watches_.at(entry.first).mark_disarmed(now);
    close_probe(entry.second);
  }
  probes_.clear();
  disarm_hooks();
}

void UprobeArming::reset_after_exec(pid_t pid) {
  pid_ = pid;
  for (auto& [slot, entry] : probes_) close_probe(entry.second);
  probes_.clear();
  disarm_hooks();
}

}  // namespace hwbp::cli
