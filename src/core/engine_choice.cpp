#include "core/engine_choice.hpp"

namespace hwbp::core {
namespace {

constexpr const char* kNoHits =
    "debug exceptions are not delivered on this machine (hwbp doctor: debug registers fire)";

EngineChoice refuse(EngineReason reason, std::string why) {
  return EngineChoice{std::nullopt, reason, std::move(why)};
}

// The software mechanism for an access kind, or a refusal saying why there is none.
EngineChoice software(Access access, EngineReason reason, const EngineFacts& facts) {
  switch (access) {
    case Access::exec:
      // The uprobe PMU keeps the perf-event model (sigtrap, inherit); int3 needs a tracer.
      if (facts.uprobes) return {Mechanism::uprobe, reason, {}};
      if (facts.int3) return {Mechanism::int3, reason, {}};
      return refuse(reason,
                    "execute breakpoints beyond the debug registers need uprobe events (run as root) "
                    "or a tracer (hwbp run/attach)");
    case Access::write:
    case Access::modify:
      if (facts.page_engine) return {Mechanism::page_protection, reason, {}};
      return refuse(reason, "the page-protection engine is not available for this target");
    case Access::read:
    case Access::read_write:
      // PROT_NONE would trap loads too, but every load of the page (code reading neighbours,
      // the kernel copying out) would then need emulation: not offered; say so.
      return refuse(reason, std::string("the page engine watches stores only (w, modify); ") +
                                to_string(access) + " watches need the debug registers");
  }
  return refuse(reason, "unknown access kind");
}

}  // namespace

EngineChoice choose_engine(EngineRequest request, const EngineWatch& watch, const EngineFacts& facts) {
  if (watch.flexible) {
    if (request == EngineRequest::page)
      return refuse(EngineReason::requested,
                    "--flexible rotates watches over the debug registers; the page engine needs no "
                    "rotation: drop --flexible");
    if (!facts.hits_delivered)
      return refuse(EngineReason::hits_not_delivered,
                    std::string(kNoHits) + ": --flexible samples them; drop --flexible to watch "
                                           "exactly with the page engine");
    return {Mechanism::debug_registers, EngineReason::flexible, {}};
  }
  switch (request) {
    case EngineRequest::hardware:
      if (!facts.hits_delivered)
        return refuse(EngineReason::hits_not_delivered,
                      std::string(kNoHits) + ": use --engine page or auto");
      return {Mechanism::debug_registers, EngineReason::requested, {}};
    case EngineRequest::page:
      return software(watch.access, EngineReason::requested, facts);
    case EngineRequest::automatic:
      break;
  }
  if (!facts.hits_delivered) return software(watch.access, EngineReason::hits_not_delivered, facts);
  if (!watch.fits_slots) return software(watch.access, EngineReason::no_free_slot, facts);
  return {Mechanism::debug_registers, EngineReason::fits_slots, {}};
}

std::optional<EngineRequest> parse_engine_request(std::string_view text) noexcept {
  if (text == "auto" || text == "automatic") return EngineRequest::automatic;
  if (text == "hw" || text == "hardware") return EngineRequest::hardware;
  if (text == "page") return EngineRequest::page;
  return std::nullopt;
}

const char* to_string(EngineRequest request) noexcept {
  switch (request) {
    case EngineRequest::automatic: return "auto";
    case EngineRequest::hardware: return "hw";
    case EngineRequest::page: return "page";
  }
  return "?";
}

const char* to_string(Mechanism mechanism) noexcept {
  switch (mechanism) {
    case Mechanism::debug_registers: return "debug registers";
    case Mechanism::page_protection: return "page protection";
    case Mechanism::uprobe: return "uprobe";
    case Mechanism::int3: return "int3";
  }
  return "?";
}

const char* json_name(Mechanism mechanism) noexcept {
  switch (mechanism) {
    case Mechanism::debug_registers: return "debug_registers";
    case Mechanism::page_protection: return "page_protection";
    case Mechanism::uprobe: return "uprobe";
    case Mechanism::int3: return "int3";
  }
  return "?";
}

const char* to_string(EngineReason reason) noexcept {
  switch (reason) {
    case EngineReason::requested: return "requested";
    case EngineReason::fits_slots: return "fits the free debug-register slots";
    case EngineReason::hits_not_delivered: return "debug exceptions are not delivered here";
    case EngineReason::no_free_slot: return "does not fit the free debug-register slots";
    case EngineReason::flexible: return "--flexible rotation";
  }
  return "?";
}

}  // namespace hwbp::core
