#include "inprocess/acceptance.hpp"

#include "core/value_filter.hpp"

namespace hwbp::inprocess {

void deliver_to_subscribers(std::span<const Subscriber> subscribers, Hit& hit,
                            const AccessValues& values) noexcept {
  core::ValueChange change = core::ValueChange::unknown;
  // Up to 8 bytes, the zero-extended 64-bit values hold every byte: one integer comparison
  // (every debug-register hit) instead of the byte form's spans.
  if (values.read && values.new_bytes != nullptr && hit.len > sizeof(std::uint64_t)) {
    std::optional<std::span<const std::uint8_t>> old_bytes;
    if (values.old_known && values.old_bytes != nullptr) old_bytes.emplace(values.old_bytes, hit.len);
    change = core::compare_values(old_bytes, std::span<const std::uint8_t>(values.new_bytes, hit.len));
  } else if (values.read) {
    change = core::compare_values(values.old_known, values.old_value, values.new_value);
  }
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
    hit.old_bytes = hit.has_values && values.old_known ? values.old_bytes : nullptr;
    hit.new_bytes = hit.has_values ? values.new_bytes : nullptr;
    (*s.callback)(hit);
  }
}

}  // namespace hwbp::inprocess
