// The order and exact values of one watch's hardware hits (issue 17), for the ptrace and BPF
// deliveries: hits come in with what their instruction says (core::StoreEffect) and the bounds
// of their store's place among the observations of the watch's bytes; once no hit still to
// come can lie before an observation, everything up to it is resolved (core::resolve_store_order)
// and handed to the sink in the order of the stores, each value marked exact or not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/store_order.hpp"
#include "delivery.hpp"

namespace hwbp::cli {

class StoreSequencer {
 public:
  // Observation numbers grow forever; 0 is the value at arming.
  using Mark = std::uint64_t;

  // (Re)armed: the bytes at arming (nullopt: not known). Hits not settled yet are settled first.
  void restart(std::optional<Bytes> at_arming, std::size_t len, HitSink& sink);
  // The watch's bytes seen now, in the order of observations; returns its number.
  Mark observe(std::optional<Bytes> seen, std::uint64_t time_ns = 0);
  Mark last() const noexcept { return base_ + observations_.size() - 1; }
  // The oldest observation a hit still to come may lie after (settled ones are final).
  Mark base() const noexcept { return base_; }
  // When observation `m` was made (the time given to observe).
  std::uint64_t time_of(Mark m) const noexcept;

  // A hit whose store lies after observation `after` and at or before `upper` (after < upper;
  // `after` is raised to base() if older).
  void add(HitEvent hit, Mark after, Mark upper, core::StoreEffect effect);
  // No hit still to come lies before observation `upto`: resolve and deliver what lies before it.
  void settle(Mark upto, HitSink& sink);
  void settle_all(HitSink& sink) { settle(last(), sink); }
  // The same, also where waiting hits' bounds span `upto` (settle() stops before the earliest
  // such span: under writers on several CPUs that never pause, the spans chain from the first
  // hit to the last, and nothing would be settled before they stop). A hit spanning `upto` stays
  // waiting, after it; its place relative to the hits around it is not known, so their values
  // that depend on the order are not exact (as next to a lost hit).
  void settle_through(Mark upto, HitSink& sink);
  // A store was lost (a hit that never came): the hits waiting now and those added before the
  // next observation may follow it, and their values that depend on the order are not exact.
  void poison();
  std::size_t pending() const noexcept { return hits_.size(); }
  // The hit added last while it waits (nullptr once settled): a delivery keeps what it can only
  // take now (the stack of a thread it is about to resume).
  HitEvent* waiting(std::size_t i) noexcept { return i < hits_.size() ? &hits_[i].hit : nullptr; }

 private:
  struct Pending {
    HitEvent hit;
    Mark after, upper;
    core::StoreEffect effect;
    bool poisoned = false;   // values that depend on the order are not exact
    bool near_lost = false;  // because of a lost hit (otherwise: a race settle_through cut)
  };
  std::size_t len_ = 0;
  Mark base_ = 0;
  std::vector<std::optional<Bytes>> observations_{std::nullopt};  // [base_, last()]
  std::vector<std::uint64_t> times_{0};
  std::vector<Pending> hits_;
  Mark poisoned_upto_ = 0, lost_upto_ = 0;
};

}  // namespace hwbp::cli
