// The tag hwbp puts on its breakpoint events' signals: perf_event_attr.sig_data, which the kernel
// hands back as si_perf_data in the SIGTRAP of a sigtrap event (include/uapi/linux/perf_event.h;
// kernel/events/core.c: perf_sigtrap()). One layout for every hwbp delivery that uses signals:
//
//   [63:48] owner   which hwbp engine armed the event (see SigDataOwner)
//   [47:16] generation of the slot: a slot moved to another chunk gets a new one, so a signal
//           still in flight from the previous chunk is recognised as stale
//   [15:0]  slot    the engine's slot index
//
// The owner tells hwbp's signals from any other sigtrap user's in the same process, and the
// library's from the command-line tool's: a program that uses libhwbp may be traced by
// `hwbp run`, and the tracer must pass the library's SIGTRAPs on to the program.
#pragma once

#include <cstdint>
#include <optional>

namespace hwbp::core {

enum class SigDataOwner : std::uint16_t {
  library = 0x4857,  // "HW": src/inprocess
  tool = 0x6877,     // "hw": tools/hwbp (ptrace delivery, loader hook)
};

struct SigData {
  SigDataOwner owner = SigDataOwner::library;
  std::uint32_t generation = 0;
  std::uint16_t slot = 0;
  friend bool operator==(const SigData&, const SigData&) = default;
};

constexpr std::uint64_t encode_sig_data(const SigData& d) noexcept {
  return std::uint64_t{static_cast<std::uint16_t>(d.owner)} << 48 |
         std::uint64_t{d.generation} << 16 | d.slot;
}

// nullopt unless `raw` carries `owner`'s tag. Async-signal-safe.
constexpr std::optional<SigData> decode_sig_data(std::uint64_t raw, SigDataOwner owner) noexcept {
  if ((raw >> 48) != static_cast<std::uint16_t>(owner)) return std::nullopt;
  return SigData{owner, static_cast<std::uint32_t>(raw >> 16), static_cast<std::uint16_t>(raw)};
}

}  // namespace hwbp::core
