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
  perf::UprobeAttr a;
  a.where = *where;
  a.addr = addr;
  a.disabled = true;
  a.inherit = a.inherit_thread = true;
  a.sigtrap = true;
  a.remove_on_exec = true;
  a.sig_data = core::encode_sig_data({core::SigDataOwner::tool, 0, slot});
  Probe p;
  p.addr = addr;
  // Every thread, re-scanning until no new one appears (perf/thread_coverage.hpp's way); later
  // threads get the kernel's inherited copy.
  std::set<pid_t> done;
  for (bool found = true; found;) {
    found = false;
    for (pid_t tid : perf::list_threads(pid_)) {
      if (done.count(tid)) continue;
      perf::Event ev;
      const int rc = perf::try_open_uprobe(a, tid, -1, ev);
      if (rc == -ESRCH) continue;  // exited meanwhile
      if (rc != 0) perf::open_uprobe(a, tid);  // throws the explained error
      done.insert(tid);
      found = true;
      p.events.push_back(std::move(ev));
    }
  }
  for (auto& ev : p.events) ev.enable();
  return p;
}

void UprobeArming::arm(core::WatchId id) {
  Watch& w = watches_.at(id);
  const std::uint16_t slot = next_slot_;
  if (slot == kLoaderSlot) throw Error(Errc::no_slots, "too many execute breakpoints");
  probes_[slot] = {id, open_probe(w.addr, slot, fmt::format("watch '{}'", w.spec.text))};
  ++next_slot_;
  w.state = Watch::State::armed;
  const auto now = core::CoverageClock::Clock::now();
  w.clock.set_watched(true, now);
  w.clock.set_armed(true, now);
}

void UprobeArming::arm_loader_hook(std::uint64_t addr) {
  if (!loader_) loader_ = open_probe(addr, kLoaderSlot, "the dynamic loader's hook");
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

void UprobeArming::close_all() {
  const auto now = core::CoverageClock::Clock::now();
  for (auto& [slot, entry] : probes_) {
    Watch& w = watches_.at(entry.first);
    w.clock.set_armed(false, now);
    w.clock.set_watched(false, now);
    if (w.state == Watch::State::armed) w.state = Watch::State::dropped;
  }
  probes_.clear();
  loader_.reset();
}

void UprobeArming::reset_after_exec(pid_t pid) {
  pid_ = pid;
  probes_.clear();
  loader_.reset();
}

}  // namespace hwbp::cli
