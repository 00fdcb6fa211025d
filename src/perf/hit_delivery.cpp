#include "perf/hit_delivery.hpp"

#include <atomic>
#include <cstring>

#include "perf/event.hpp"

namespace hwbp::perf {

HitDelivery probe_hit_delivery() {
  constexpr int kWrites = 3;
  alignas(8) volatile std::uint64_t target = 0;
  HitDelivery r;
  r.written = kWrites;
  BreakpointAttr a;
  a.addr = reinterpret_cast<std::uintptr_t>(&target);
  a.len = 8;
  a.type = core::HwType::write;
  a.sample_period = 0;  // count only: no signal, no ring buffer
  Event ev;
  if (const int rc = Event::try_open(a, 0, -1, ev); rc != 0) {
    r.open_errno = -rc;
    r.detail = std::string("could not arm a test watchpoint (") + std::strerror(-rc) + ")";
    return r;
  }
  ev.enable();
  for (int i = 1; i <= kWrites; ++i) target = static_cast<std::uint64_t>(i);
  ev.disable();
  const std::int64_t n = ev.count();
  r.counted = n < 0 ? 0 : static_cast<int>(n);
  r.detail = "a write watchpoint counted " + std::to_string(r.counted) + " of " +
             std::to_string(kWrites) + " writes";
  if (r.counted == kWrites) r.state = HitDelivery::State::delivered;
  else if (r.counted == 0) r.state = HitDelivery::State::silent;
  else r.state = HitDelivery::State::partial;
  return r;
}

const HitDelivery& hit_delivery() {
  static const HitDelivery probed = probe_hit_delivery();  // thread-safe initialisation
  return probed;
}

namespace {
std::atomic<bool> g_even_if_silent{false};
}  // namespace

bool hits_delivered() {
  return g_even_if_silent.load(std::memory_order_relaxed) ||
         hit_delivery().state != HitDelivery::State::silent;
}

void set_arm_debug_registers_even_if_silent(bool on) { g_even_if_silent.store(on, std::memory_order_relaxed); }

}  // namespace hwbp::perf
