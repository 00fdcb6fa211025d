#include "inprocess/page_watch.hpp"

#include <time.h>

#include <cstring>

#include "inprocess/acceptance.hpp"
#include "page/engine.hpp"

namespace hwbp::inprocess {
namespace {

// The first min(len, 8) bytes as a little-endian integer (x86-64), zero-extended: the Hit's
// 64-bit view of a store of any length.
std::uint64_t first_bytes(const std::uint8_t* bytes, std::size_t len) noexcept {
  std::uint64_t v = 0;
  std::memcpy(&v, bytes, len < sizeof v ? len : sizeof v);
  return v;
}

std::int64_t steady_now_ns() noexcept {  // clock_gettime is async-signal-safe
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

PageWatch::PageWatch(const core::WatchRequest& request, const SoftwareListener& listener, bool enabled)
    : request_(request), listener_(listener) {
  if (enabled) page_id_ = arm_at(request);
}

PageWatch::~PageWatch() {
  // Under the engine's lock: once disarm() returns no handler is in on_hit() for this watch.
  if (page_id_ != 0) page::disarm(page_id_);
}

std::uint64_t PageWatch::arm_at(const core::WatchRequest& request) {
  page::PageWatchOptions o;
  o.addr = request.addr;
  o.len = request.len;
  o.access = request.access;  // the engine applies the same value filter (core::page_should_report)
  o.callback = [this](const page::PageHit& h) { on_hit(h); };
  o.on_end = [this](const page::PageEnd& e) { on_end(e); };
  const std::uint64_t id = page::arm(o);
  ended_ns_.store(0, std::memory_order_release);
  return id;
}

void PageWatch::set_enabled(bool on) {
  if (on && page_id_ == 0) {
    page_id_ = arm_at(request_);
  } else if (!on && page_id_ != 0) {
    page::disarm(page_id_);
    page_id_ = 0;
  }
}

void PageWatch::retarget(const core::WatchRequest& request) {
  if (page_id_ != 0) {
    const std::uint64_t fresh = arm_at(request);  // throws: the old place stays armed
    page::disarm(page_id_);
    page_id_ = fresh;
  }
  request_ = request;
}

std::uint64_t PageWatch::hits() const { return listener_.subscriber.hits->load(std::memory_order_relaxed); }

bool PageWatch::armed() const { return page_id_ != 0 && page::alive(page_id_); }

void PageWatch::on_hit(const page::PageHit& ph) noexcept {
  if (listener_.only_tid != 0 && ph.tid != listener_.only_tid) return;
  Hit hit;
  hit.tid = ph.tid;
  hit.addr = ph.addr;
  hit.len = ph.len;
  hit.ip = ph.next_ip;  // where the thread resumes, as a hardware data hit reports
  hit.context = ph.context;
  hit.mechanism = Mechanism::page_protection;
  hit.pc = ph.pc;
  hit.syscall = ph.syscall;
  AccessValues values;
  values.read = true;
  values.old_known = true;  // the engine read them under its lock right before it wrote
  values.old_value = first_bytes(ph.old_bytes, ph.len);
  values.new_value = first_bytes(ph.new_bytes, ph.len);
  values.old_bytes = ph.old_bytes;
  values.new_bytes = ph.new_bytes;
  // The engine completes every store itself under its lock, one at a time (docs/page-engine.md,
  // "Exactness guarantee"): the values are this store's own, except on the paths that open the
  // page for a moment.
  values.old_exact = values.new_exact = ph.exact;
  deliver_to_subscribers({&listener_.subscriber, 1}, hit, values);
}

void PageWatch::on_end(const page::PageEnd& pe) noexcept {
  ended_ns_.store(steady_now_ns(), std::memory_order_release);
  if (listener_.on_end == nullptr || !*listener_.on_end) return;
  WatchEnd end;
  end.watch_id = listener_.subscriber.watch_id;
  end.tid = pe.tid;
  end.pc = pe.pc;
  end.syscall = pe.syscall;
  (*listener_.on_end)(end);
}

}  // namespace hwbp::inprocess
