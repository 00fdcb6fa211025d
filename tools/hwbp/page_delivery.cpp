#include "page_delivery.hpp"

#include <sys/ptrace.h>

#include "symbols/unwinder.hpp"

namespace hwbp::cli {

PageDelivery::PageDelivery(pid_t pid, WatchSet& watches, Symbolizer& symbolizer, HitSink& sink,
                           Reporter& reporter)
    : watches_(watches), symbolizer_(symbolizer), sink_(sink), reporter_(reporter),
      transport_(std::make_unique<ptrace::PageTransport>(
          pid, ptrace::PageCallbacks{[this](const ptrace::PageHit& h) { on_hit(h); },
                                     [this](const ptrace::PageEnd& e) { on_end(e); }})) {}

PageDelivery::~PageDelivery() = default;

void PageDelivery::arm(pid_t stopped_tid, core::WatchId id) {
  Watch& w = watches_.at(id);
  used_ = true;
  needs_release_ = true;
  const std::uint64_t page_id = transport_->arm(stopped_tid, w.addr, w.len, w.spec.access);
  ids_[page_id] = id;
  w.state = Watch::State::armed;
  const auto now = core::CoverageClock::Clock::now();
  w.clock.set_watched(true, now);
  w.clock.set_armed(true, now);
}

void PageDelivery::disarm(pid_t stopped_tid, core::WatchId id) {
  for (auto it = ids_.begin(); it != ids_.end(); ++it) {
    if (it->second != id) continue;
    transport_->disarm(stopped_tid, it->first);
    ids_.erase(it);
    watches_.at(id).mark_disarmed(core::CoverageClock::Clock::now());
    return;
  }
}

std::optional<core::WatchId> PageDelivery::watch_of(std::uint64_t page_id) const {
  auto it = ids_.find(page_id);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

void PageDelivery::on_hit(const ptrace::PageHit& hit) {
  const auto id = watch_of(hit.watch_id);
  if (!id || sink_.done()) return;
  const Watch& w = watches_.at(*id);
  HitEvent h;
  h.watch = *id;
  h.tid = hit.tid;
  h.pc = hit.pc;
  h.pc_is = PcIs::the_access;
  // The transport gives the touched bytes only; the report shows the watch's whole value: the
  // rest of it is unchanged by this store, so it is read now (the thread is stopped, the engine
  // is the only writer of the page: exact).
  const bool whole = hit.addr == w.addr && hit.new_bytes.size() == w.len;
  Bytes now;
  if (!whole && hit.addr >= w.addr && hit.addr + hit.new_bytes.size() <= w.addr + w.len) {
    now.resize(w.len);
    if (!memory().try_read(w.addr, now)) now.clear();
  }
  if (!now.empty()) {
    const auto at = static_cast<long>(hit.addr - w.addr);
    Bytes before = now;
    std::copy(hit.old_bytes.begin(), hit.old_bytes.end(), before.begin() + at);
    std::copy(hit.new_bytes.begin(), hit.new_bytes.end(), now.begin() + at);
    h.old_bytes = std::move(before);
    h.new_bytes = std::move(now);
  } else {
    h.old_bytes = hit.old_bytes;
    h.new_bytes = hit.new_bytes;
  }
  // The tracer wrote these bytes itself, one stop at a time (src/ptrace/page_transport.hpp): the
  // values are this store's own even when threads race (issue 17).
  h.old_exact = h.new_exact = true;
  // The transport applied modify already, on the touched bytes: same verdict on the whole value.
  h.value_filtered = false;
  if (hit.syscall) h.made_by = hit.syscall;
  // The thread is ptrace-stopped (registers after the store, like a hardware trap).
  if (auto image = symbolizer_.image()) {
    symbols::ProcessImage& img = *image;
    const pid_t tid = hit.tid;
    h.unwind = [&img, tid](std::size_t depth) { return symbols::backtrace_thread(img, tid, true, depth); };
  }
  sink_.accept(std::move(h));
}

void PageDelivery::on_end(const ptrace::PageEnd& end) {
  const auto id = watch_of(end.watch_id);
  if (!id) return;
  Watch& w = watches_.at(*id);
  ids_.erase(end.watch_id);
  w.state = Watch::State::dropped;
  const auto now = core::CoverageClock::Clock::now();
  w.clock.set_armed(false, now);
  w.clock.set_watched(false, now);
  Site site;
  std::string instruction;
  if (end.pc && symbolizer_.image()) site = symbolizer_.instruction_site(end.pc, &instruction);
  reporter_.watch_ended(w, end.tid, site, end.reason);
}

const ptrace::RemoteMemory& PageDelivery::memory() {
  if (!memory_) memory_.emplace(transport_->pid());
  return *memory_;
}

std::optional<std::pair<pid_t, int>> PageDelivery::take_deferred() {
  auto d = transport_->take_deferred();
  if (!d) return std::nullopt;
  return std::make_pair(d->tid, d->status);
}

bool PageDelivery::on_new_task(pid_t creator, pid_t child, int event, std::optional<int> first) {
  return transport_->on_new_task(creator, child, event, first) == ptrace::NewTask::traced;
}

bool PageDelivery::on_exec(pid_t tid) {
  if (transport_->on_exec(tid) == ptrace::ExecOutcome::detach_child) return true;
  ids_.clear();  // every page watch ended (its on_end said so); names are re-armed by the session
  memory_.reset();  // a new address space
  return false;
}

void PageDelivery::release(pid_t stopped_tid) {
  transport_->release(stopped_tid);
  ids_.clear();
  needs_release_ = false;
}

}  // namespace hwbp::cli
