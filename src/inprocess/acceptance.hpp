// The library's hit-acceptance path: what happens to one access once a delivery knows which
// watches listen on the bytes it touched. Every in-process delivery ends here: the SIGTRAP handler
// of the debug registers and of uprobes (sigtrap.cpp), and the page-protection engine's SIGSEGV
// handler (page_watch.cpp: it knows the exact old and new bytes of each store it resolves, of any
// length, and passes them as exact values). Per listening watch: skip it if disabled, apply its value filter
// (core/value_filter.hpp), count the hit, call the callback. Async-signal-safe and
// allocation-free: it runs in signal context in the accessing thread.
#pragma once

#include <cstdint>
#include <span>

#include "hwbp/hwbp.hpp"
#include "inprocess/dispatch.hpp"

namespace hwbp::inprocess {

// The values of one access, as the delivery knows them.
struct AccessValues {
  bool read = false;            // false: the delivery read no bytes (nothing to filter on)
  bool old_known = false;       // the old value is proven (see core/value_shadow.hpp)
  std::uint64_t old_value = 0;  // little-endian, zero-extended
  std::uint64_t new_value = 0;
  // The exact bytes (`hit.len` of them) where the delivery has them: the filter compares these
  // (any length) and the hit carries them. Null: the 64-bit values are all there is.
  const std::uint8_t* old_bytes = nullptr;
  const std::uint8_t* new_bytes = nullptr;
  bool old_exact = false, new_exact = false;  // this access's own values (Hit::old_exact)
};

// `hit` carries what is common to every listener (tid, addr, len, ip, async, context, mechanism,
// pc, syscall); the watch id, access and values are filled in it per listener (the caller's own
// Hit, not a copy: this runs on every hit, in signal context).
void deliver_to_subscribers(std::span<const Subscriber> subscribers, Hit& hit,
                            const AccessValues& values) noexcept;

}  // namespace hwbp::inprocess
