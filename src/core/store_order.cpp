#include "core/store_order.hpp"

#include <algorithm>
#include <cstring>
#include <map>

namespace hwbp::core {

bool StoreEffect::needs_old() const noexcept {
  switch (kind) {
    case Kind::store:
    case Kind::compare_exchange: return false;  // unless partial: checked by the caller
    case Kind::rmw:
    case Kind::none: return true;
    case Kind::exchange:
    case Kind::unknown: return false;
  }
  return true;
}

namespace {

std::uint64_t load(const std::uint8_t* p, std::size_t n) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, std::min<std::size_t>(n, 8));
  return v;
}

std::uint64_t rmw(StoreEffect::Op op, std::uint64_t old, std::uint64_t operand) {
  switch (op) {
    case StoreEffect::Op::add: return old + operand;
    case StoreEffect::Op::sub: return old - operand;
    case StoreEffect::Op::bit_and: return old & operand;
    case StoreEffect::Op::bit_or: return old | operand;
    case StoreEffect::Op::bit_xor: return old ^ operand;
    case StoreEffect::Op::bit_not: return ~old;
    case StoreEffect::Op::neg: return 0 - old;
  }
  return old;
}

bool covers(const StoreEffect& e, std::size_t len) { return e.offset == 0 && e.size >= len; }

// Would the result leave these ZF, SF and PF (rflags bits 6, 7, 2)?
bool flags_match(std::uint64_t result, std::size_t size, std::uint64_t flags) {
  constexpr std::uint64_t kPF = 1u << 2, kZF = 1u << 6, kSF = 1u << 7;
  const std::uint64_t mask = size >= 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * size)) - 1;
  result &= mask;
  const bool zf = result == 0, sf = (result >> (8 * size - 1)) & 1;
  const bool pf = (__builtin_popcount(static_cast<unsigned>(result & 0xff)) % 2) == 0;  // even parity
  return zf == bool(flags & kZF) && sf == bool(flags & kSF) && pf == bool(flags & kPF);
}

}  // namespace

bool StoreEffect::apply(const std::optional<ValueBytes>& before, std::optional<ValueBytes>& after) const {
  if (before && (kind == Kind::exchange || kind == Kind::compare_exchange) &&
      (offset + size > before->size() || !std::equal(old.begin(), old.begin() + size, before->begin() + offset)))
    return false;
  switch (kind) {
    case Kind::unknown:
    case Kind::exchange: after.reset(); return true;
    case Kind::none: after = before; return true;
    case Kind::store:
    case Kind::compare_exchange:
      if (before) {
        if (offset + size > before->size()) return false;
        after = before;
        std::copy(bytes.begin(), bytes.begin() + size, after->begin() + offset);
      } else if (offset == 0) {
        after = ValueBytes(bytes.begin(), bytes.begin() + size);  // whole watch (see covers)
      } else {
        after.reset();
      }
      return true;
    case Kind::rmw: {
      if (!before || offset + size > before->size() || size > 8) {
        after.reset();
        return true;
      }
      after = before;
      std::uint64_t v = rmw(op, load(before->data() + offset, size), operand);
      if (flags_known && op != Op::bit_not && !flags_match(v, size, flags)) return false;
      std::memcpy(after->data() + offset, &v, size);
      return true;
    }
  }
  return false;
}

namespace {

struct Outcome {
  std::optional<ValueBytes> old_value, new_value;
  bool operator==(const Outcome&) const = default;
};

using State = std::vector<std::size_t>;  // hits placed before their upper observation, sorted

struct Transition {
  State from, to;
  std::vector<std::pair<std::size_t, Outcome>> placed;  // in store order
};

class Segment {
 public:
  Segment(std::size_t len, const std::vector<std::optional<ValueBytes>>& obs, const std::vector<PlacedHit>& hits,
          std::vector<std::size_t> members, std::size_t first, std::size_t last, const OrderLimits& limits)
      : len_(len), obs_(obs), hits_(hits), members_(std::move(members)), first_(first), last_(last), limits_(limits) {}

  // False: too large, or no consistent order.
  bool solve(std::vector<ResolvedHit>& out, std::size_t& rank);

 private:
  void expand(std::size_t g, const State& from);
  void dfs(std::size_t g, const State& from, const std::vector<std::size_t>& candidates, std::size_t must,
           std::vector<bool>& used, std::vector<std::pair<std::size_t, Outcome>>& seq,
           const std::optional<ValueBytes>& value);

  std::size_t len_;
  const std::vector<std::optional<ValueBytes>>& obs_;
  const std::vector<PlacedHit>& hits_;
  std::vector<std::size_t> members_;
  std::size_t first_, last_;
  OrderLimits limits_;
  std::size_t steps_ = 0;
  bool too_large_ = false;
  std::map<std::size_t, std::vector<Transition>> transitions_;  // by the observation they end at
};

void Segment::dfs(std::size_t g, const State& from, const std::vector<std::size_t>& candidates, std::size_t must,
                  std::vector<bool>& used, std::vector<std::pair<std::size_t, Outcome>>& seq,
                  const std::optional<ValueBytes>& value) {
  if (too_large_ || ++steps_ > limits_.max_steps) {
    too_large_ = true;
    return;
  }
  std::size_t must_used = 0;
  for (std::size_t i = 0; i < candidates.size(); ++i)
    if (used[i] && hits_[candidates[i]].upper == g) ++must_used;
  if (must_used == must) {
    // Every hit whose store must lie before observation g is placed: does the value match it?
    auto placed = seq;
    bool ok = true;
    if (obs_[g]) {
      if (value) ok = *value == *obs_[g];
      else if (!placed.empty()) placed.back().second.new_value = obs_[g];  // the last store wrote it
    }
    if (ok) {
      Transition t;
      t.from = from;
      for (std::size_t h : from)
        if (hits_[h].upper > g) t.to.push_back(h);
      for (std::size_t i = 0; i < candidates.size(); ++i)
        if (used[i] && hits_[candidates[i]].upper > g) t.to.push_back(candidates[i]);
      std::sort(t.to.begin(), t.to.end());
      t.placed = std::move(placed);
      transitions_[g].push_back(std::move(t));
    }
  }
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (used[i]) continue;
    const StoreEffect& e = hits_[candidates[i]].effect;
    std::optional<ValueBytes> before = value;
    auto saved = seq;
    // An instruction that states the old bytes of the whole watch names the value the previous
    // store left, when nothing else did.
    if (!before && (e.kind == StoreEffect::Kind::exchange || e.kind == StoreEffect::Kind::compare_exchange) &&
        covers(e, len_)) {
      before = ValueBytes(e.old.begin(), e.old.begin() + len_);
      if (!seq.empty()) seq.back().second.new_value = before;
    }
    std::optional<ValueBytes> after;
    if (!e.apply(before, after)) {
      seq = std::move(saved);
      continue;
    }
    used[i] = true;
    seq.push_back({candidates[i], Outcome{before, after}});
    dfs(g, from, candidates, must, used, seq, after);
    seq = std::move(saved);
    used[i] = false;
  }
}

void Segment::expand(std::size_t g, const State& from) {
  std::vector<std::size_t> candidates;
  std::size_t must = 0;
  for (std::size_t h : members_) {
    const PlacedHit& p = hits_[h];
    if (p.after < g && g <= p.upper && !std::binary_search(from.begin(), from.end(), h)) {
      candidates.push_back(h);
      if (p.upper == g) ++must;
    }
  }
  if (candidates.size() > limits_.max_candidates) {
    too_large_ = true;
    return;
  }
  std::vector<bool> used(candidates.size(), false);
  std::vector<std::pair<std::size_t, Outcome>> seq;
  dfs(g, from, candidates, must, used, seq, obs_[g - 1]);
}

bool Segment::solve(std::vector<ResolvedHit>& out, std::size_t& rank) {
  // Forward: the states reachable at each observation.
  std::vector<std::vector<State>> reach(last_ - first_ + 1);
  reach[0].push_back({});
  for (std::size_t g = first_ + 1; g <= last_ && !too_large_; ++g) {
    for (const State& s : reach[g - 1 - first_]) expand(g, s);
    auto& next = reach[g - first_];
    for (const Transition& t : transitions_[g]) next.push_back(t.to);
    std::sort(next.begin(), next.end());
    next.erase(std::unique(next.begin(), next.end()), next.end());
  }
  if (too_large_) return false;
  // Backward: the states from which the last observation is reached with every hit placed.
  std::vector<std::vector<State>> good(last_ - first_ + 1);
  good[last_ - first_].push_back({});
  for (std::size_t g = last_; g > first_; --g) {
    auto& prev = good[g - 1 - first_];
    for (const Transition& t : transitions_[g])
      if (std::binary_search(good[g - first_].begin(), good[g - first_].end(), t.to)) prev.push_back(t.from);
    std::sort(prev.begin(), prev.end());
    prev.erase(std::unique(prev.begin(), prev.end()), prev.end());
  }
  if (good[0].empty()) return false;  // no consistent order
  std::map<std::size_t, std::vector<Outcome>> outcomes;
  for (std::size_t g = first_ + 1; g <= last_; ++g)
    for (const Transition& t : transitions_[g])
      if (std::binary_search(good[g - first_].begin(), good[g - first_].end(), t.to))
        for (const auto& [h, o] : t.placed) {
          auto& list = outcomes[h];
          if (std::find(list.begin(), list.end(), o) == list.end()) list.push_back(o);
        }
  for (std::size_t h : members_) {
    const auto& list = outcomes[h];
    ResolvedHit& r = out[h];
    r.old_value = list.front().old_value;
    r.new_value = list.front().new_value;
    r.old_exact = r.old_value && std::all_of(list.begin(), list.end(), [&](const Outcome& o) { return o.old_value == r.old_value; });
    r.new_exact = r.new_value && std::all_of(list.begin(), list.end(), [&](const Outcome& o) { return o.new_value == r.new_value; });
  }
  // One consistent order, for the output: the first good transition at each step.
  State at;
  for (std::size_t g = first_ + 1; g <= last_; ++g)
    for (const Transition& t : transitions_[g])
      if (t.from == at && std::binary_search(good[g - first_].begin(), good[g - first_].end(), t.to)) {
        for (const auto& [h, o] : t.placed) {
          out[h].rank = rank++;
          out[h].old_value = o.old_value;
          out[h].new_value = o.new_value;
        }
        at = t.to;
        break;
      }
  return true;
}

// What the instruction alone says, in the order of the observations: the values of a segment
// that could not be resolved.
void unresolved(std::size_t len, const std::vector<std::optional<ValueBytes>>& obs, const std::vector<PlacedHit>& hits,
                std::vector<std::size_t> members, std::vector<ResolvedHit>& out, std::size_t& rank) {
  std::stable_sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) { return hits[a].upper < hits[b].upper; });
  std::optional<ValueBytes> value;
  std::size_t at = hits.empty() ? 0 : hits[members.front()].upper;
  value = at > 0 ? obs[at - 1] : std::nullopt;
  for (std::size_t h : members) {
    const StoreEffect& e = hits[h].effect;
    if (hits[h].upper != at) {
      at = hits[h].upper;
      if (obs[at - 1]) value = obs[at - 1];
    }
    ResolvedHit& r = out[h];
    r.rank = rank++;
    const bool states_old = (e.kind == StoreEffect::Kind::exchange || e.kind == StoreEffect::Kind::compare_exchange) && covers(e, len);
    const bool states_new = (e.kind == StoreEffect::Kind::store || e.kind == StoreEffect::Kind::compare_exchange) && covers(e, len);
    r.old_value = states_old ? ValueBytes(e.old.begin(), e.old.begin() + len) : value;
    r.old_exact = states_old;
    std::optional<ValueBytes> after;
    if (!e.apply(r.old_value, after)) after.reset();
    r.new_value = states_new ? ValueBytes(e.bytes.begin(), e.bytes.begin() + len) : after ? after : obs[at];
    r.new_exact = states_new;
    value = r.new_value;
  }
}

}  // namespace

std::vector<ResolvedHit> resolve_store_order(std::size_t len, const std::vector<std::optional<ValueBytes>>& observations,
                                             const std::vector<PlacedHit>& hits, OrderLimits limits) {
  std::vector<ResolvedHit> out(hits.size());
  if (hits.empty()) return out;
  // Cut points: observations no hit's bounds span. Segments between them are independent.
  const std::size_t last = observations.size() - 1;
  std::vector<int> span(observations.size() + 1, 0);
  for (const PlacedHit& h : hits) {
    span[h.after + 1] += 1;
    span[h.upper] -= 1;
  }
  std::vector<std::size_t> order(hits.size());
  for (std::size_t i = 0; i < hits.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return hits[a].upper < hits[b].upper; });
  std::size_t rank = 0, next = 0, first = 0;
  int open = 0;
  for (std::size_t g = 1; g <= last; ++g) {
    open += span[g];
    if (open > 0 && g < last) continue;  // a hit's bounds span observation g
    std::vector<std::size_t> members;
    while (next < order.size() && hits[order[next]].upper <= g) members.push_back(order[next++]);
    if (!members.empty()) {
      Segment seg(len, observations, hits, members, first, g, limits);
      if (!seg.solve(out, rank)) unresolved(len, observations, hits, members, out, rank);
    }
    first = g;
  }
  return out;
}

}  // namespace hwbp::core
