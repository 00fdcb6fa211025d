// The public C++ API: thin handles over the registry.
#include "core/engine_choice.hpp"
#include "core/request.hpp"
#include "core/split.hpp"
#include "hwbp/hwbp.hpp"
#include "inprocess/registry.hpp"
#include "perf/capabilities.hpp"
#include "perf/threads.hpp"

namespace hwbp {
namespace {
inprocess::Registry& registry() { return inprocess::Registry::instance(); }
}  // namespace

Target Target::this_thread() noexcept { return thread(perf::current_tid()); }

Watch watch(const WatchOptions& options) { return Watch(registry().arm(options)); }

Watch::Watch(Watch&& other) noexcept : id_(other.id_) { other.id_ = 0; }

Watch& Watch::operator=(Watch&& other) noexcept {
  if (this != &other) {
    remove();
    id_ = other.id_;
    other.id_ = 0;
  }
  return *this;
}

Watch::~Watch() { remove(); }

void Watch::remove() noexcept {
  if (id_ == 0) return;
  registry().remove(id_);
  id_ = 0;
}

void Watch::enable() { registry().set_enabled(id_, true); }
void Watch::disable() { registry().set_enabled(id_, false); }
bool Watch::enabled() const { return registry().enabled(id_); }
void Watch::retarget(std::uintptr_t addr) {
  registry().retarget(id_, addr, registry().request(id_).len);
}
void Watch::retarget(std::uintptr_t addr, std::size_t len) { registry().retarget(id_, addr, len); }
std::uint64_t Watch::hits() const { return registry().hits(id_); }
std::vector<ChunkInfo> Watch::chunks() const { return registry().chunks(id_); }

namespace {

Mechanism public_mechanism(core::Mechanism m) {
  switch (m) {
    case core::Mechanism::debug_registers: return Mechanism::debug_registers;
    case core::Mechanism::page_protection: return Mechanism::page_protection;
    case core::Mechanism::uprobe: return Mechanism::uprobe;
    case core::Mechanism::int3: break;  // needs a tracer: never chosen in-process
  }
  throw Error(Errc::invalid_state, "watch served by int3, which the library does not offer");
}

}  // namespace

Mechanism Watch::mechanism() const { return public_mechanism(registry().mechanism(id_)); }
const char* Watch::mechanism_reason() const { return core::to_string(registry().mechanism_reason(id_)); }
std::string Watch::describe() const {
  return std::string(to_string(mechanism())) + " (" + mechanism_reason() + ")";
}

const char* to_string(Mechanism mechanism) noexcept {
  switch (mechanism) {
    case Mechanism::debug_registers: return core::to_string(core::Mechanism::debug_registers);
    case Mechanism::page_protection: return core::to_string(core::Mechanism::page_protection);
    case Mechanism::uprobe: return core::to_string(core::Mechanism::uprobe);
  }
  return "?";
}

const char* to_string(Engine engine) noexcept {
  switch (engine) {
    case Engine::automatic: return core::to_string(core::EngineRequest::automatic);
    case Engine::hardware: return core::to_string(core::EngineRequest::hardware);
    case Engine::page: return core::to_string(core::EngineRequest::page);
  }
  return "?";
}
double Watch::coverage() const { return registry().coverage(id_); }

void set_rotation_interval(std::chrono::microseconds interval) {
  registry().set_rotation_interval(interval);
}

std::size_t slots_needed(std::uintptr_t addr, std::size_t len, Access access) {
  core::ArchInfo arch = core::host_arch();
  core::WatchRequest request{addr, len, access};
  if (auto violation = core::validate_range(arch, request))
    throw Error(Errc::invalid_request, violation->message);
  return core::chunk_count(arch, request);
}

unsigned slots_per_thread() { return perf::capabilities().slots; }

namespace detail {
constinit std::atomic<std::uint64_t> g_armed_slots{0};
}  // namespace detail

}  // namespace hwbp
