// The exact old and new value of racing stores (issue 17): which values a debug-register hit
// can be sure of when other threads write the same bytes.
//
// A data breakpoint traps after the store (Intel SDM vol. 3, 18.2.4 "Debug Status Register":
// data breakpoints are traps), so the bytes read at the hit are those of the *latest* store to
// them, which another thread may have made since. What is exact comes from three sources:
//  - the instruction (StoreEffect): `mov [m], reg` gives the new bytes from the registers at the
//    trap, `xchg`/`xadd` the old ones, `cmpxchg` both; `lock add [m], 1` gives new = old + 1;
//  - observations (Marker): the bytes read at a point of the hits' order — the value of the
//    latest store before it, whoever made it;
//  - bounds on where each store lies in the order of the stores to those bytes (x86 orders the
//    stores to one location totally): a hit's store came before its own observation (`upper`)
//    and after an earlier one (`after`) — the writer's own previous observation, the previous
//    one on its CPU (a CPU runs the #DB handler of a store before its next instruction: the
//    trap has priority over interrupts, Intel SDM vol. 3, 6.9 "Priority Among Concurrent
//    Exceptions and Interrupts"), or a point where the kernel's hit count said no hit was in
//    flight.
// Every arrangement of the stores within those bounds that is consistent with all of it is
// enumerated (the groups between two observations are small: a few concurrent writers); a
// value is exact when every consistent arrangement gives it, and is otherwise reported with
// exact = false (the arrangement shown is one consistent one). Nothing here guesses: when no
// arrangement is consistent (a store hwbp did not see: another process, the kernel, a lost hit)
// or the enumeration would be too large, the values that depend on the order are not exact.
//
// Pure: no syscalls, shared by the CLI's deliveries (ptrace: observations in the tracer's
// order; BPF: in the order of a per-watch counter taken in the kernel at each hit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace hwbp::core {

using ValueBytes = std::vector<std::uint8_t>;

// What the accessing instruction says about the watch's bytes (offset/size: the part of the
// watch it writes).
struct StoreEffect {
  enum class Kind : std::uint8_t {
    unknown,           // a store of unknown values (the new bytes come from observations only)
    none,              // no store: a read (of a read-write watch)
    store,             // writes `bytes` (mov, movnti, SSE/AVX moves, setcc, push, call)
    rmw,               // new = op(old, operand), size <= 8 (add, sub, inc, dec, and, or, xor...)
    exchange,          // the old bytes are `old`, the new ones unknown (xchg, xadd)
    compare_exchange,  // the old bytes are `old` and the new ones `bytes` (cmpxchg)
  };
  enum class Op : std::uint8_t { add, sub, bit_and, bit_or, bit_xor, bit_not, neg };

  Kind kind = Kind::unknown;
  std::size_t offset = 0, size = 0;  // within the watch
  ValueBytes bytes, old;             // `size` bytes each when used
  Op op = Op::add;
  std::uint64_t operand = 0;
  // rmw: the flags the instruction left (rflags at the trap): ZF, SF and PF tell results apart
  // (Intel SDM vol. 1, 3.4.3.1 "Status Flags"; all of add, sub, inc, dec, and, or, xor and neg
  // set them from the result; not sets none).
  bool flags_known = false;
  std::uint64_t flags = 0;

  // The watch's bytes after this access from those before (nullopt: unknown). False when `before`
  // contradicts what the instruction says the old bytes were.
  bool apply(const std::optional<ValueBytes>& before, std::optional<ValueBytes>& after) const;
  // Does the new value depend on the old one?
  bool needs_old() const noexcept;
};

// One hit to place: its store lies after observation `after` and at or before observation
// `upper` (after < upper; observation 0 is the value at arming).
struct PlacedHit {
  std::size_t after = 0, upper = 1;
  StoreEffect effect;
};

struct ResolvedHit {
  std::optional<ValueBytes> old_value, new_value;  // as in one consistent order (nullopt: unknown)
  bool old_exact = false, new_exact = false;       // the same in every consistent order
  std::size_t rank = 0;                            // position in that order among the hits given
};

struct OrderLimits {
  std::size_t max_candidates = 7;        // hits that may lie between two observations
  std::size_t max_steps = 200000;        // effect applications per segment
};

// A watch of `len` bytes. observations[i]: the bytes seen at observation i (nullopt: not
// read). Hits in any order; the result is in the same order.
std::vector<ResolvedHit> resolve_store_order(std::size_t len,
                                             const std::vector<std::optional<ValueBytes>>& observations,
                                             const std::vector<PlacedHit>& hits, OrderLimits limits = {});

}  // namespace hwbp::core
