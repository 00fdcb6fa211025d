#include "perf/hit_delivery.hpp"

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

bool hits_delivered() { return hit_delivery().state != HitDelivery::State::silent; }

}  // namespace hwbp::perf
