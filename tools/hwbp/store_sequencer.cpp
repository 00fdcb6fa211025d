#include "store_sequencer.hpp"

#include <algorithm>
#include <functional>

namespace hwbp::cli {

void StoreSequencer::restart(std::optional<Bytes> at_arming, std::size_t len, HitSink& sink) {
  settle_all(sink);
  len_ = len;
  base_ = last();
  observations_.assign(1, std::move(at_arming));
  times_.assign(1, 0);
}

StoreSequencer::Mark StoreSequencer::observe(std::optional<Bytes> seen, std::uint64_t time_ns) {
  observations_.push_back(std::move(seen));
  times_.push_back(time_ns);
  return last();
}

std::uint64_t StoreSequencer::time_of(Mark m) const noexcept {
  return m >= base_ && m <= last() ? times_[m - base_] : 0;
}

void StoreSequencer::add(HitEvent hit, Mark after, Mark upper, core::StoreEffect effect) {
  after = std::max(after, base_);
  upper = std::clamp(upper, after + 1, last());
  const bool poisoned = after < poisoned_upto_;
  hits_.push_back({std::move(hit), after, upper, std::move(effect), poisoned, after < lost_upto_});
}

void StoreSequencer::poison() {
  for (Pending& p : hits_) p.poisoned = p.near_lost = true;
  poisoned_upto_ = std::max(poisoned_upto_, last() + 1);
  lost_upto_ = last() + 1;
}

void StoreSequencer::settle_through(Mark upto, HitSink& sink) {
  upto = std::min(upto, last());
  if (upto <= base_) return;
  Mark lowest = upto, highest = upto;
  for (const Pending& p : hits_)
    if (p.after < upto && upto < p.upper) {
      lowest = std::min(lowest, p.after);
      highest = std::max(highest, p.upper);
    }
  if (lowest == upto) return settle(upto, sink);
  for (Pending& p : hits_) {
    if (p.after < upto && upto < p.upper) p.after = upto;  // kept waiting, after the cut
    // Its store may lie anywhere from `lowest` to `highest`, before or after these.
    if (p.upper > lowest && p.after < highest) p.poisoned = true;
  }
  poisoned_upto_ = std::max(poisoned_upto_, highest);
  settle(upto, sink);
}

void StoreSequencer::settle(Mark upto, HitSink& sink) {
  upto = std::min(upto, last());
  // The latest observation at or before `upto` that no waiting hit's bounds span: one pass over
  // the spans by decreasing upper bound (a span passed over that did not contain the cut cannot
  // contain a lower one). Rescanning until nothing moved took a pass per span of a chain:
  // quadratic in the waiting hits, seconds per record in the test VM.
  std::vector<std::pair<Mark, Mark>> spans;  // (upper, after)
  for (const Pending& p : hits_)
    if (p.after < upto) spans.emplace_back(p.upper, p.after);
  std::sort(spans.begin(), spans.end(), std::greater<>());
  Mark cut = upto;
  for (const auto& [upper, after] : spans)
    if (after < cut && cut < upper) cut = after;
  if (cut <= base_) return;
  std::vector<Pending> now, later;
  for (Pending& p : hits_) (p.upper <= cut ? now : later).push_back(std::move(p));
  hits_ = std::move(later);
  std::vector<std::optional<core::ValueBytes>> obs(observations_.begin(), observations_.begin() + (cut - base_) + 1);
  std::vector<core::PlacedHit> placed;
  placed.reserve(now.size());
  for (const Pending& p : now) placed.push_back({p.after - base_, p.upper - base_, p.effect});
  std::vector<core::ResolvedHit> resolved = core::resolve_store_order(len_, obs, placed);
  std::vector<std::size_t> order(now.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return resolved[a].rank < resolved[b].rank; });
  observations_.erase(observations_.begin(), observations_.begin() + (cut - base_));
  times_.erase(times_.begin(), times_.begin() + (cut - base_));
  base_ = cut;
  for (std::size_t i : order) {
    HitEvent& h = now[i].hit;
    const core::ResolvedHit& r = resolved[i];
    h.old_bytes = r.old_value;
    h.new_bytes = r.new_value;
    h.old_exact = r.old_exact && !now[i].poisoned;
    const core::StoreEffect& e = now[i].effect;
    const bool states_new = (e.kind == core::StoreEffect::Kind::store || e.kind == core::StoreEffect::Kind::compare_exchange) &&
                            e.offset == 0 && e.size >= len_;
    h.new_exact = r.new_exact && (!now[i].poisoned || states_new);
    h.near_lost = now[i].near_lost;
    if (!sink.done()) sink.accept(std::move(h));
  }
}

}  // namespace hwbp::cli
