#include "inprocess/registry.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <string>

#include "core/sig_data.hpp"
#include "core/split.hpp"
#include "core/value_filter.hpp"
#include "inprocess/page_watch.hpp"
#include "inprocess/sigtrap.hpp"
#include "inprocess/uprobe_watch.hpp"
#include "page/engine.hpp"
#include "perf/capabilities.hpp"
#include "perf/cpus.hpp"
#include "perf/errors.hpp"
#include "perf/hit_delivery.hpp"
#include "perf/threads.hpp"
#include "perf/uprobe.hpp"

namespace hwbp::inprocess {
namespace {

std::string hex(std::uintptr_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, v);
  return buf;
}

// Kernel counting (no signal) is enough when no callback wants the hit and no value filter
// has to look at it.
bool counts_in_kernel(const WatchOptions& o) {
  const core::ValueFilter filter = core::value_filter_for(o.access);
  return !o.callback && (filter == core::ValueFilter::every || filter == core::ValueFilter::no_value);
}

// The access kinds whose hits carry values in the library: those with a value filter, and w.
bool reads_values(Access a) {
  return a == Access::write || core::value_filter_for(a) == core::ValueFilter::changed ||
         core::value_filter_for(a) == core::ValueFilter::unchanged;
}

bool reads_via_kernel(core::HwType type) {
  return type == core::HwType::read_write || type == core::HwType::read;
}

}  // namespace

std::uint64_t sig_data_of(int slot, std::uint32_t generation) noexcept {
  return core::encode_sig_data(
      {core::SigDataOwner::library, generation, static_cast<std::uint16_t>(slot)});
}

namespace {

std::vector<int> distinct(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

Registry& Registry::instance() {
  // Never destroyed: the SIGTRAP handler may still run while the process exits.
  static Registry* registry = new Registry();
  return *registry;
}

Registry::Registry()
    : arch_(core::host_arch()),
      // The architecture's slot count, not the start-up probe: the probe sees what is free at
      // that moment (a CPU-wide event of another tool lowers it for a while), and the kernel
      // stays the final judge — its ENOSPC rolls the change back and is explained.
      table_(arch_, DispatchTable::kCapacity, core::slots_per_pool(arch_)),
      admission_(arch_, perf::possible_cpus()) {}

Registry::WatchRecord& Registry::find(std::uint64_t id) const {
  auto it = watches_.find(id);
  if (it == watches_.end())
    throw Error(Errc::invalid_state, "watch " + std::to_string(id) +
                                         " is not armed (removed or moved-from); arm a new one");
  return *it->second;
}

std::vector<core::SlotKey> Registry::keys_for(const core::WatchRequest& request,
                                              const Target& target, bool counting) const {
  std::vector<core::SlotKey> keys;
  for (const core::Chunk& c : core::split_range(arch_, request)) {
    core::SlotKey key;
    key.chunk = c;
    key.target = target.kind == Target::Kind::thread ? static_cast<std::uint64_t>(target.tid)
                                                     : core::kProcessTarget;
    key.cpu_wide = target.kind == Target::Kind::cpus;
    key.sigtrap = !counting;
    keys.push_back(key);
  }
  return keys;
}

void Registry::check_plan(const core::SlotTable::PlanResult& result,
                          const core::WatchRequest& request,
                          const std::vector<core::SlotKey>& keys) const {
  std::size_t chunk_count = keys.size();
  using PlanError = core::SlotTable::PlanError;
  std::string what = "watch of " + std::to_string(request.len) + " byte(s) at " +
                     hex(request.addr) + " needs " + std::to_string(chunk_count) + " slot(s)";
  if (result.error == PlanError::thread_slots) {
    std::size_t fresh = 0;  // chunks that would take a new slot (the rest share existing ones)
    for (const core::SlotKey& key : keys)
      if (table_.find(key) < 0) ++fresh;
    unsigned held = result.needed > fresh ? result.needed - static_cast<unsigned>(fresh) : 0;
    unsigned cpu_wide = 0;
    for (std::size_t i = 0; i < table_.capacity(); ++i)
      if (table_.in_use(static_cast<int>(i)) && table_.key(static_cast<int>(i)).cpu_wide) ++cpu_wide;
    std::string cpu_note = cpu_wide == 0 ? ""
                                         : " (" + std::to_string(cpu_wide) +
                                               " of them by CPU-wide watches, on every thread)";
    throw Error(Errc::no_slots,
                what + ", but a thread has " + std::to_string(result.available) +
                    " debug-register slots and hwbp already holds " + std::to_string(held) +
                    " there" + cpu_note + "; remove or disable a watch, or watch fewer bytes",
                ENOSPC);
  }
  if (result.error == PlanError::table_full)
    throw Error(Errc::no_slots,
                what + ", but hwbp's slot table is full (" +
                    std::to_string(table_.capacity()) + " distinct chunks); remove a watch",
                ENOSPC);
}

unsigned Registry::slots_on_thread(pid_t tid) const {
  unsigned total = 0;
  for (unsigned pool = 0; pool < arch_.pool_count(); ++pool)
    total += table_.thread_load(static_cast<std::uint64_t>(tid), pool);
  return total;
}

perf::BreakpointAttr Registry::attr_for(int slot) const {
  const core::SlotKey& key = table_.key(slot);
  perf::BreakpointAttr a;
  a.addr = key.chunk.addr;
  a.len = key.chunk.len;
  a.type = key.chunk.type;
  a.disabled = !hw_[slot].hw_enabled;
  a.sigtrap = key.sigtrap;
  // Watches end with exec (new address space); sigtrap requires it anyway.
  a.remove_on_exec = true;
  a.sig_data = sig_data_of(slot, hw_[slot].generation);
  // Only a CPU-wide watch may name a kernel address; it must then count kernel-mode hits.
  a.exclude_kernel = !(key.cpu_wide && key.chunk.addr >= core::user_address_limit(arch_));
  return a;
}

void Registry::publish_slot(int slot) {
  if (!table_.in_use(slot)) {
    dispatch_table().publish(slot, nullptr);
    return;
  }
  const core::SlotKey& key = table_.key(slot);
  auto d = std::make_unique<SlotDispatch>();
  d->generation = hw_[slot].generation;
  d->chunk = key.chunk;
  d->read_via_kernel = reads_via_kernel(key.chunk.type);
  d->one_writer = key.target != core::kProcessTarget;
  for (const auto& [id, rec] : watches_) {
    if (std::find(rec->slots.begin(), rec->slots.end(), slot) == rec->slots.end()) continue;
    d->subscribers.push_back({id, rec->request.access, &rec->callback, &rec->enabled, &rec->hits});
    if (reads_values(rec->request.access)) d->needs_values = true;
  }
  dispatch_table().publish(slot, std::move(d));
}

bool Registry::slot_needs_values(int slot) const {
  if (!table_.key(slot).sigtrap) return false;  // counted in the kernel: no values reported
  for (const auto& [id, rec] : watches_)
    if (reads_values(rec->request.access) &&
        std::find(rec->slots.begin(), rec->slots.end(), slot) != rec->slots.end())
      return true;
  return false;
}

bool Registry::may_race(int slot) const {
  std::uint64_t target = table_.key(slot).target;
  return target == core::kProcessTarget || static_cast<pid_t>(target) != perf::current_tid();
}

std::int64_t Registry::slot_count(int slot) const {
  std::int64_t total = 0;
  for (const perf::Event& ev : hw_[slot].threads.events) total += std::max<std::int64_t>(ev.count(), 0);
  return total;
}

bool Registry::begin_shadow(int slot) {
  if (!slot_needs_values(slot)) return false;  // read_write, exec, counting: no values to report
  // Only the arming thread writes a this-thread watch's bytes under watch, and it is busy here:
  // the value read now is final. Otherwise another thread may write between this read and the
  // arming, so the value stays tentative until finish_shadow() confirms it.
  const bool race = may_race(slot);
  const core::Chunk& chunk = table_.key(slot).chunk;
  dispatch_table().refresh_shadow(slot, chunk, reads_via_kernel(chunk.type), !race);
  return race;
}

void Registry::finish_shadow(int slot, bool confirm) {
  if (!confirm) return;
  const core::Chunk& chunk = table_.key(slot).chunk;
  dispatch_table().confirm_shadow(slot, chunk, reads_via_kernel(chunk.type));
}

void Registry::sync_hw_state(int slot) {
  bool want = false;
  if (table_.in_use(slot)) {
    for (const auto& [id, rec] : watches_)
      if (rec->enabled.load() &&
          std::find(rec->slots.begin(), rec->slots.end(), slot) != rec->slots.end())
        want = true;
  }
  SlotHw& hw = hw_[slot];
  if (want == hw.hw_enabled) return;
  if (!want) {
    for (perf::Event& ev : hw.threads.events) ev.disable();
    hw.hw_enabled = false;
    active_.lower(static_cast<unsigned>(slot));  // only once nothing can fire any more
    return;
  }
  const bool confirm = begin_shadow(slot);
  active_.raise(static_cast<unsigned>(slot));  // before anything can fire
  for (std::size_t i = 0; i < hw.threads.events.size(); ++i) {
    int rc = hw.threads.events[i].enable();
    if (rc < 0) {
      for (std::size_t j = 0; j < i; ++j) hw.threads.events[j].disable();
      active_.lower(static_cast<unsigned>(slot));
      perf::OpenContext ctx;
      ctx.pid = hw.threads.tids[i];
      throw perf::error_from_errno(-rc, ctx);
    }
  }
  hw.hw_enabled = true;
  finish_shadow(slot, confirm);
}

void Registry::attach(WatchRecord& rec, const std::vector<core::SlotKey>& keys) {
  core::SlotTable::PlanResult result = table_.plan(keys);
  check_plan(result, rec.request, keys);
  const core::SlotTable::Plan& plan = *result.plan;
  admit_created(plan, keys, rec.request);
  // Commit and publish first, then open the new slots' events already enabled (no enable ioctl
  // per thread afterwards: arming a process-wide watch costs one perf_event_open per thread).
  // A failure anywhere goes through detach(), which releases and closes exactly what was made.
  table_.commit(plan, keys);
  rec.slots.assign(plan.slot_of_key.begin(), plan.slot_of_key.end());
  for (int slot : plan.created) {
    hw_[slot].generation = next_generation_++;
    hw_[slot].threads = ThreadEvents{};
    hw_[slot].hw_enabled = false;
  }
  for (int slot : distinct(rec.slots)) publish_slot(slot);
  try {
    std::size_t opened = 0;
    for (int slot : plan.created) {
      open_slot(slot, rec, plan.created.size() - opened);
      ++opened;
    }
    for (int slot : distinct(rec.slots)) sync_hw_state(slot);  // shared slots a new watch enables
  } catch (...) {
    detach(rec);
    throw;
  }
  rec.count_base.assign(rec.slots.size(), 0);
  for (std::size_t i = 0; i < rec.slots.size(); ++i)
    if (!keys[i].sigtrap) rec.count_base[i] = slot_count(rec.slots[i]);
}

void Registry::admit_created(const core::SlotTable::Plan& plan,
                             const std::vector<core::SlotKey>& keys,
                             const core::WatchRequest& request) {
  std::vector<int> admitted;
  for (int slot : plan.created) {
    std::size_t k = static_cast<std::size_t>(
        std::find(plan.slot_of_key.begin(), plan.slot_of_key.end(), slot) - plan.slot_of_key.begin());
    if (auto why = admission_.admit(slot, keys[k])) {
      for (int s : admitted) admission_.release(s);
      throw Error(Errc::no_slots,
                  "watch of " + std::to_string(request.len) + " byte(s) at " + hex(request.addr) +
                      " does not fit: " + *why + "; remove or disable a watch",
                  ENOSPC);
    }
    admitted.push_back(slot);
  }
}

void Registry::open_slot(int slot, const WatchRecord& rec, std::size_t not_yet_open) {
  bool enable = rec.enabled.load();
  perf::BreakpointAttr a = attr_for(slot);
  a.disabled = !enable;
  bool confirm = false;
  if (enable) {
    confirm = begin_shadow(slot);
    active_.raise(static_cast<unsigned>(slot));  // before the first event can fire
  }
  // For ENOSPC messages: hwbp's slots on that thread are the committed ones already open.
  auto ours = [&](pid_t tid) {
    unsigned load = slots_on_thread(tid);
    return load > not_yet_open ? load - static_cast<unsigned>(not_yet_open) : 0u;
  };
  try {
    hw_[slot].threads = open_on_target(a, rec.target, ours);
  } catch (...) {
    if (enable) active_.lower(static_cast<unsigned>(slot));
    throw;
  }
  hw_[slot].hw_enabled = enable;
  if (enable) finish_shadow(slot, confirm);
}

void Registry::detach(WatchRecord& rec) noexcept {
  std::vector<int> old = rec.slots;
  rec.slots.clear();
  rec.count_base.clear();
  const core::SlotList freed = table_.release(old);
  for (int slot : distinct(old)) {
    bool is_freed = std::find(freed.begin(), freed.end(), slot) != freed.end();
    if (!is_freed) {
      publish_slot(slot);
      try {
        sync_hw_state(slot);
      } catch (...) {  // only disabling can happen here, which does not throw
      }
      continue;
    }
    // close() removes the event synchronously (perf_release), so no disable ioctl is needed
    // first; the indicator drops only once nothing can fire.
    SlotHw& hw = hw_[slot];
    hw.threads = ThreadEvents{};
    hw.hw_enabled = false;
    active_.lower(static_cast<unsigned>(slot));
    dispatch_table().publish(slot, nullptr);
    admission_.release(slot);
  }
  update_armed(rec);
}

namespace {

core::EngineRequest engine_request(Engine engine) {
  switch (engine) {
    case Engine::automatic: return core::EngineRequest::automatic;
    case Engine::hardware: return core::EngineRequest::hardware;
    case Engine::page: return core::EngineRequest::page;
  }
  throw Error(Errc::invalid_request, "unknown engine " + std::to_string(static_cast<int>(engine)) +
                                         "; use Engine::automatic, Engine::hardware or Engine::page");
}

// Why the page engine cannot run in this process ("" when it can), probed once.
const std::string& page_engine_unavailable() {
  static const std::string why = page::unavailable_reason();
  return why;
}

// What to do about a refused engine choice, in the library's terms (C++ and C API fields); the
// CLI says it with its options (tools/hwbp/engine_refusal.cpp).
std::string refusal_in_api_terms(const core::EngineChoice& c) {
  switch (c.remedy) {
    case core::EngineRemedy::none: return c.refusal;
    case core::EngineRemedy::software_engine:
      return c.refusal + ": set WatchOptions::engine to Engine::page or Engine::automatic "
                         "(C: HWBP_ENGINE_PAGE or HWBP_ENGINE_AUTO)";
    case core::EngineRemedy::drop_flexible:
      return c.refusal + ": set WatchOptions::flexible to false (C: flexible = 0)";
    case core::EngineRemedy::exec_privilege:
      return c.refusal + ": give the process CAP_PERFMON or run it as root";
  }
  return c.refusal;
}

bool thread_exists(pid_t tid) {
  const std::vector<pid_t> tids = perf::list_threads(0);
  return std::binary_search(tids.begin(), tids.end(), tid);
}

}  // namespace

core::EngineChoice Registry::choose(core::EngineRequest wanted, const WatchOptions& options,
                                    bool fits_slots) const {
  core::EngineFacts facts;
  facts.hits_delivered = perf::hits_delivered();
  facts.page_engine = true;
  facts.uprobes = true;
  facts.int3 = false;  // software breakpoints need a tracer: hwbp run/attach
  const core::EngineWatch watch{options.access, fits_slots, options.flexible};
  core::EngineChoice choice = core::choose_engine(wanted, watch, facts);
  if (choice.mechanism == core::Mechanism::page_protection && !page_engine_unavailable().empty()) {
    facts.page_engine = false;
    choice = core::choose_engine(wanted, watch, facts);
    if (!choice.mechanism) choice.refusal += " (" + page_engine_unavailable() + ")";
  }
  if (choice.mechanism == core::Mechanism::uprobe && !perf::uprobes_available()) {
    facts.uprobes = false;
    choice = core::choose_engine(wanted, watch, facts);
  }
  if (!choice.mechanism) choice.refusal = refusal_in_api_terms(choice);
  return choice;
}

std::uint64_t Registry::arm(const WatchOptions& options) {
  if (static_cast<unsigned>(options.target.kind) > static_cast<unsigned>(Target::Kind::cpus))
    throw Error(Errc::invalid_request,
                "unknown target kind " + std::to_string(static_cast<unsigned>(options.target.kind)) +
                    "; use Target::process(), Target::thread(tid), Target::this_thread() or "
                    "Target::all_cpus()");
  core::WatchRequest request{options.addr, options.len, options.access};
  bool cpu_wide = options.target.kind == Target::Kind::cpus;
  // More bytes than the debug registers could ever cover is no error for page protection.
  std::optional<core::RuleViolation> too_large;
  if (auto violation = core::validate_range(arch_, request)) {
    if (violation->rule == core::Rule::too_large)
      too_large = violation;
    else if (!(cpu_wide && violation->rule == core::Rule::kernel_address))
      throw Error(Errc::invalid_request, violation->message);
  }
  if (cpu_wide && (options.callback || options.flexible ||
                   !(options.access == Access::write || options.access == Access::read_write ||
                     options.access == Access::exec)))
    throw Error(Errc::invalid_request,
                "a CPU-wide watch counts hits (the kernel sends no signal for CPU-bound events); "
                "use access w, rw or x without a callback, or watch the process instead");
  const core::EngineRequest wanted = engine_request(options.engine);
  if (too_large && wanted == core::EngineRequest::hardware) throw Error(Errc::invalid_request, too_large->message);
  core::EngineChoice choice = choose(wanted, options, !too_large);
  if (choice.mechanism == core::Mechanism::debug_registers) {
    if (too_large) throw Error(Errc::invalid_request, too_large->message);
    try {
      return arm_hardware(options, choice);
    } catch (const Error& e) {
      // Automatic mode: a pinned watch the slots cannot hold goes to the software mechanism,
      // all of it (core/engine_choice.hpp: fits_slots).
      if (e.code() != Errc::no_slots || wanted != core::EngineRequest::automatic || options.flexible ||
          cpu_wide)
        throw;
      choice = choose(wanted, options, false);
      if (!choice.mechanism) throw Error(Errc::no_slots, std::string(e.what()) + "; " + choice.refusal, ENOSPC);
    }
  }
  if (!choice.mechanism) throw Error(Errc::unsupported, choice.refusal);
  if (cpu_wide)
    throw Error(Errc::unsupported,
                std::string("a CPU-wide watch counts in the debug registers of every CPU, but ") +
                    core::to_string(choice.reason) +
                    "; page protection and uprobes watch this process only: watch the process instead");
  return arm_software(options, choice);
}

std::uint64_t Registry::arm_software(const WatchOptions& options, const core::EngineChoice& choice) {
  core::WatchRequest request{options.addr, options.len, options.access};
  Target target = options.target;
  if (target.kind == Target::Kind::thread && target.tid == 0) target.tid = perf::current_tid();
  // Another process's thread is refused by name, as on the debug registers (arm() below).
  if (target.kind == Target::Kind::thread) perf::require_own_thread(target.tid);
  if (target.kind == Target::Kind::thread && !thread_exists(target.tid))
    throw Error(Errc::no_such_thread,
                "thread " + std::to_string(target.tid) + " does not exist (it exited?); watch an existing thread",
                ESRCH);
  auto rec = std::make_unique<WatchRecord>();
  rec->request = request;
  rec->target = target;
  rec->callback = options.callback;
  rec->on_end = options.on_end;
  rec->enabled.store(options.enabled);
  rec->mechanism = *choice.mechanism;
  rec->reason = choice.reason;
  std::lock_guard<std::mutex> lock(mu_);
  rec->id = next_id_++;
  SoftwareListener listener;
  listener.subscriber = {rec->id, request.access, &rec->callback, &rec->enabled, &rec->hits};
  listener.on_end = &rec->on_end;
  listener.only_tid = target.kind == Target::Kind::thread ? target.tid : 0;
  if (options.enabled) active_.raise(kSoftwareActiveBit);  // before the first hit can arrive
  try {
    if (rec->mechanism == core::Mechanism::page_protection) {
      rec->software = std::make_unique<PageWatch>(request, listener, options.enabled);
    } else {
      const bool counting = !options.callback;
      if (!counting) install_sigtrap_handler();
      rec->software = std::make_unique<UprobeWatch>(request, target, listener, options.enabled, counting);
    }
  } catch (...) {
    sync_software_active();
    throw;
  }
  WatchRecord& ref = *rec;
  // Watched and armed from the same instant: a software watch is armed all the time it is
  // enabled and its memory is there (coverage 1.0).
  const Clock::time_point now = Clock::now();
  ref.coverage = watched_from(now);
  ref.coverage.set_armed(ref.enabled.load() && ref.software->armed(), now);
  watches_.emplace(ref.id, std::move(rec));
  return ref.id;
}

void Registry::sync_software_active() noexcept {
  bool any = false;
  for (const auto& [id, rec] : watches_)
    if (rec->software && rec->enabled.load()) any = true;
  if (any)
    active_.raise(kSoftwareActiveBit);
  else
    active_.lower(kSoftwareActiveBit);  // after the last one was disarmed
}

std::uint64_t Registry::arm_hardware(const WatchOptions& options, const core::EngineChoice& choice) {
  core::WatchRequest request{options.addr, options.len, options.access};
  const perf::Capabilities& caps = perf::capabilities();
  if (!caps.breakpoints) throw perf::error_from_errno(caps.open_errno, perf::OpenContext{});
  Target target = options.target;
  if (target.kind == Target::Kind::thread && target.tid == 0) target.tid = perf::current_tid();
  if (target.kind == Target::Kind::thread) perf::require_own_thread(target.tid);
  bool counting = counts_in_kernel(options);
  if (!counting && !caps.sigtrap)
    throw Error(Errc::unsupported,
                "this kernel (" + caps.kernel_release +
                    ") has no perf sigtrap (Linux 5.13+), so hits cannot be delivered to a "
                    "callback or filtered by value; use counting mode (access w, rw or x, no "
                    "callback) or a newer kernel",
                EINVAL);
  if (!counting) install_sigtrap_handler();
  std::vector<core::SlotKey> keys = keys_for(request, target, counting);

  auto rec = std::make_unique<WatchRecord>();
  rec->mechanism = core::Mechanism::debug_registers;
  rec->reason = choice.reason;
  rec->request = request;
  rec->target = target;
  rec->callback = options.callback;
  rec->enabled.store(options.enabled);
  rec->flexible = options.flexible;
  if (options.flexible && !caps.modify)
    throw Error(Errc::unsupported,
                "this kernel (" + caps.kernel_release +
                    ") has no PERF_EVENT_IOC_MODIFY_ATTRIBUTES (Linux 4.17+), which flexible "
                    "watches rotate with; arm fewer watches, pinned",
                ENOTTY);
  if (options.flexible) {
    // Flexible watches take turns: always signalled, so each hit is attributed to the watch
    // armed at that moment (a kernel count could not tell the turns apart).
    install_sigtrap_handler();
    rec->keys = keys_for(request, target, false);
    std::lock_guard<std::mutex> lock(mu_);
    return arm_flexible(std::move(rec));
  }
  std::lock_guard<std::mutex> lock(mu_);
  rec->id = next_id_++;
  WatchRecord& ref = *rec;
  watches_.emplace(ref.id, std::move(rec));
  for (;;) {
    try {
      attach(ref, keys);
      break;
    } catch (const Error& e) {
      // Pinned watches take priority over the rotation: give back a rotation slot and retry.
      if (e.code() == Errc::no_slots && shrink_any_pool()) continue;
      watches_.erase(ref.id);
      throw;
    } catch (...) {
      watches_.erase(ref.id);
      throw;
    }
  }
  // Watched and armed from the same instant (opening the events took time, armed all of it).
  const Clock::time_point now = Clock::now();
  ref.coverage = watched_from(now);
  ref.coverage.set_armed(ref.enabled.load() && !ref.slots.empty(), now);
  return ref.id;
}

void Registry::remove(std::uint64_t id) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  it->second->enabled.store(false);
  if (it->second->software) {
    it->second->software.reset();  // disarmed: no handler delivers to it any more
    sync_software_active();
  } else if (it->second->flexible)
    remove_flexible(*it->second);
  else
    detach(*it->second);
  dispatch_table().synchronize();  // no handler may still hold the record's callback
  watches_.erase(it);
}

void Registry::set_enabled(std::uint64_t id, bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  WatchRecord& rec = find(id);
  if (rec.software) {
    const bool before = rec.enabled.exchange(on);
    if (on) active_.raise(kSoftwareActiveBit);
    try {
      rec.software->set_enabled(on);
    } catch (...) {
      rec.enabled.store(before);
      sync_software_active();
      throw;
    }
    sync_software_active();
    update_armed(rec);
    return;
  }
  bool before = rec.enabled.exchange(on);
  try {
    for (int slot : distinct(rec.slots)) sync_hw_state(slot);
    update_armed(rec);
  } catch (...) {
    rec.enabled.store(before);
    for (int slot : distinct(rec.slots)) {
      try {
        sync_hw_state(slot);
      } catch (...) {
      }
    }
    throw;
  }
}

bool Registry::enabled(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return find(id).enabled.load();
}

bool Registry::try_retarget_in_place(WatchRecord& rec, const std::vector<core::SlotKey>& keys) {
  if (keys.size() != rec.slots.size()) return false;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (table_.refcount(rec.slots[i]) != 1) return false;
    int existing = table_.find(keys[i]);
    if (existing >= 0 && existing != rec.slots[i]) return false;
  }
  std::vector<core::SlotKey> old_keys;
  for (int slot : rec.slots) old_keys.push_back(table_.key(slot));
  // Move one slot: shadow first (the new address is not armed yet, so reading it cannot trap),
  // then the dispatch, then the hardware through the modify ioctl (reaches inherited copies).
  auto move_slot = [&](std::size_t i, const core::SlotKey& key) -> int {
    int slot = rec.slots[i];
    table_.rekey(slot, key);
    hw_[slot].generation = next_generation_++;  // a signal from the old chunk is now stale
    const bool confirm = begin_shadow(slot);
    publish_slot(slot);
    perf::BreakpointAttr a = attr_for(slot);
    for (std::size_t e = 0; e < hw_[slot].threads.events.size(); ++e) {
      int rc = hw_[slot].threads.events[e].modify(a);
      if (rc < 0) return rc;
    }
    if (hw_[slot].hw_enabled) finish_shadow(slot, confirm);
    return 0;
  };
  for (std::size_t i = 0; i < keys.size(); ++i) {
    int rc = move_slot(i, keys[i]);
    if (rc == 0) continue;
    for (std::size_t j = 0; j <= i; ++j) move_slot(j, old_keys[j]);  // roll back
    if (rc == -ENOTTY) return false;  // kernel < 4.17: no modify ioctl, reopen instead
    perf::OpenContext ctx;
    throw perf::error_from_errno(-rc, ctx);
  }
  return true;
}

void Registry::retarget(std::uint64_t id, std::uintptr_t addr, std::size_t len) {
  std::lock_guard<std::mutex> lock(mu_);
  WatchRecord& rec = find(id);
  core::WatchRequest request{addr, len, rec.request.access};
  if (auto violation = core::validate_range(arch_, request))
    if (!(violation->rule == core::Rule::too_large && rec.mechanism == core::Mechanism::page_protection))
      throw Error(Errc::invalid_request, violation->message);
  if (rec.software) {
    rec.software->retarget(request);  // all or nothing
    rec.request = request;
    update_armed(rec);
    return;
  }
  if (rec.flexible) {
    retarget_flexible(rec, request, keys_for(request, rec.target, false));
    return;
  }
  bool counting = !rec.slots.empty() && !table_.key(rec.slots.front()).sigtrap;
  std::vector<core::SlotKey> keys = keys_for(request, rec.target, counting);
  if (try_retarget_in_place(rec, keys)) {
    rec.request = request;
    return;
  }
  // Shared slots or a different chunk count: re-arm. The old range is released first so a
  // watch that fills the slots can still move; it is restored if the new range does not fit.
  core::WatchRequest old_request = rec.request;
  std::vector<core::SlotKey> old_keys = keys_for(old_request, rec.target, counting);
  detach(rec);
  try {
    rec.request = request;
    attach(rec, keys);
  } catch (...) {
    rec.request = old_request;
    attach(rec, old_keys);
    throw;
  }
}

std::uint64_t Registry::hits(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  const WatchRecord& rec = find(id);
  if (rec.software) return rec.software->hits();
  if (rec.slots.empty() || table_.key(rec.slots.front()).sigtrap) return rec.hits.load();
  std::int64_t total = 0;
  for (std::size_t i = 0; i < rec.slots.size(); ++i) {
    std::int64_t slot_count = 0;
    for (const perf::Event& ev : hw_[rec.slots[i]].threads.events)
      slot_count += std::max<std::int64_t>(ev.count(), 0);
    total += slot_count - rec.count_base[i];
  }
  return static_cast<std::uint64_t>(std::max<std::int64_t>(total, 0));
}

void Registry::update_armed(WatchRecord& rec) {
  bool armed_now = rec.enabled.load() && (rec.software ? rec.software->armed() : !rec.slots.empty());
  if (armed_now != rec.coverage.armed()) rec.coverage.set_armed(armed_now, Clock::now());
}

double Registry::coverage(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  WatchRecord& rec = find(id);
  // A page watch whose memory went away stopped being armed then (in a signal handler, which
  // cannot take the mutex to say so).
  if (rec.software && rec.coverage.armed())
    if (const std::int64_t ended = rec.software->ended_at_ns(); ended != 0)
      rec.coverage.set_armed(false, Clock::time_point(std::chrono::nanoseconds(ended)));
  return rec.coverage.coverage(Clock::now());
}

core::Mechanism Registry::mechanism(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return find(id).mechanism;
}

core::EngineReason Registry::mechanism_reason(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return find(id).reason;
}

core::WatchRequest Registry::request(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return find(id).request;
}

std::vector<ChunkInfo> Registry::chunks(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  const WatchRecord& rec = find(id);
  std::vector<ChunkInfo> out;
  if (rec.software) return out;  // no debug-register slots (see Watch::chunks())
  if (rec.flexible && rec.slots.empty()) {  // parked: not armed right now
    for (const core::SlotKey& key : rec.keys) out.push_back({key.chunk.addr, key.chunk.len, -1, 0});
    return out;
  }
  for (int slot : rec.slots) {
    const core::Chunk& c = table_.key(slot).chunk;
    out.push_back({c.addr, c.len, slot, table_.refcount(slot)});
  }
  return out;
}

}  // namespace hwbp::inprocess
