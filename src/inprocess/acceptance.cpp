#include "inprocess/acceptance.hpp"

#include "core/value_filter.hpp"

namespace hwbp::inprocess {

void deliver_to_subscribers(std::span<const Subscriber> subscribers, Hit hit,
                            const AccessValues& values) noexcept {
  const core::ValueChange change =
      values.read ? core::compare_values(values.old_known, values.old_value, values.new_value)
                  : core::ValueChange::unknown;
  hit.old_known = values.old_known;
  hit.old_value = values.old_value;
  hit.new_value = values.new_value;
  hit.old_exact = values.read && values.old_exact;
  hit.new_exact = values.read && values.new_exact;
  for (const Subscriber& s : subscribers) {
    if (!s.enabled->load(std::memory_order_relaxed)) continue;
    if (!core::passes_value_filter(s.access, change)) continue;
    s.hits->fetch_add(1, std::memory_order_relaxed);
    if (s.callback == nullptr || !*s.callback) continue;
    hit.watch_id = s.watch_id;
    hit.access = s.access;
    // read_write and exec watches report no values (their slots may be read-write: reading the
    // bytes there is a kernel round trip the library only makes for the kinds that need it).
    hit.has_values = values.read && s.access != Access::read_write && s.access != Access::exec;
    (*s.callback)(hit);
  }
}

}  // namespace hwbp::inprocess
