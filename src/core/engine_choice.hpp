// Which mechanism serves a watch: the one rule the library, `hwbp run|attach` and `hwbp plan`
// apply (issue 15). Pure: the caller gathers the facts (the doctor's hit-delivery probe, the
// slot plan, what its transport offers) and this decides.
//
// Mechanisms:
//  - debug_registers: perf PERF_TYPE_BREAKPOINT events (exact for pinned watches, at most the
//    slots of one thread; a hit traps after the access).
//  - page_protection: the watched pages are made read-only and every store to them is resolved
//    by the page engine (src/page in-process, src/ptrace under ptrace): any length, any number,
//    stores only (w, modify).
//  - uprobe: execute breakpoints through the perf uprobe PMU with sigtrap (any number; needs the
//    privilege to open uprobe events: CAP_SYS_ADMIN / CAP_PERFMON, root here).
//  - int3: execute breakpoints as software breakpoints under ptrace (any number; `hwbp run|attach`).
//
// What the user asks for (`--engine`, WatchOptions::engine):
//  - automatic: debug registers where they deliver hits and the watch got a slot of its own in
//    the plan; otherwise the software mechanism for its access kind.
//  - hardware: debug registers only (refused where the hypervisor delivers no debug exceptions).
//  - page: the software mechanisms only (page protection for stores, uprobe/int3 for execution).
// A flexible (rotating, sampling) watch is a debug-register notion: it stays on the debug
// registers, and is refused where they deliver no hits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "hwbp/types.hpp"

namespace hwbp::core {

enum class EngineRequest : std::uint8_t { automatic, hardware, page };

enum class Mechanism : std::uint8_t { debug_registers, page_protection, uprobe, int3 };

// Why a mechanism was chosen (plan, doctor and the start-up header print it).
enum class EngineReason : std::uint8_t {
  requested,           // --engine hw|page / WatchOptions::engine said so
  fits_slots,          // automatic: debug registers fire here and the watch has its own slots
  hits_not_delivered,  // automatic: debug exceptions are not delivered on this machine
  no_free_slot,        // automatic: the watch does not fit the slots left free
  flexible,            // --flexible: rotation over the debug registers (sampling)
};

// What the caller knows about this machine and its transport.
struct EngineFacts {
  bool hits_delivered = true;  // perf::hits_delivered(): debug exceptions reach this machine
  bool page_engine = true;     // the transport has a page engine (in-process or ptrace)
  bool uprobes = false;        // uprobe perf events can be opened (privilege, PMU present)
  bool int3 = false;           // software breakpoints are possible (a ptrace transport)
};

// One watch, as the slot plan placed it.
struct EngineWatch {
  Access access = Access::modify;
  bool fits_slots = true;  // the plan gave it fixed debug-register slots (core split + sharing)
  bool flexible = false;
};

struct EngineChoice {
  std::optional<Mechanism> mechanism;  // nullopt: refused, see `refusal`
  EngineReason reason = EngineReason::requested;
  std::string refusal;  // one line: what is wrong and what to do
};

EngineChoice choose_engine(EngineRequest request, const EngineWatch& watch, const EngineFacts& facts);

// "auto", "hw", "page" (the --engine spellings; also "automatic", "hardware").
std::optional<EngineRequest> parse_engine_request(std::string_view text) noexcept;
const char* to_string(EngineRequest request) noexcept;
// "debug registers", "page protection", "uprobe", "int3".
const char* to_string(Mechanism mechanism) noexcept;
// Short machine-readable names for JSON: "debug_registers", "page_protection", "uprobe", "int3".
const char* json_name(Mechanism mechanism) noexcept;
// "requested", "fits the free debug-register slots", ... (human text for plan/doctor/header).
const char* to_string(EngineReason reason) noexcept;
// True for mechanisms that are not the debug registers (the "page" engine's family).
constexpr bool is_software(Mechanism m) noexcept { return m != Mechanism::debug_registers; }

}  // namespace hwbp::core
