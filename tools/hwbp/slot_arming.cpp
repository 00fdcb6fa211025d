#include "slot_arming.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/split.hpp"
#include "core/value_shadow.hpp"
#include "hwbp/error.hpp"
#include "perf/thread_coverage.hpp"
#include "symbols/process_memory.hpp"

namespace hwbp::cli {

namespace {
// SlotTable capacity: one entry per distinct chunk in use (the table's maximum).
constexpr std::size_t kTableCapacity = 64;
}  // namespace

SlotArming::SlotArming(pid_t pid, WatchSet& watches, Delivery& delivery)
    : pid_(pid), watches_(watches), delivery_(delivery), arch_(watches.arch()),
      table_(arch_, kTableCapacity, core::slots_per_pool(arch_)) {}

std::uint64_t SlotArming::sig_data(int slot, std::uint32_t generation) const noexcept {
  return core::encode_sig_data(
      {core::SigDataOwner::tool, generation, static_cast<std::uint16_t>(slot)});
}

perf::BreakpointAttr SlotArming::attr_for(const core::Chunk& c, int slot, std::uint32_t generation,
                                          bool sigtrap) const {
  perf::BreakpointAttr a;
  a.addr = c.addr;
  a.len = c.len;
  a.type = c.type;
  a.disabled = true;
  a.inherit = true;
  a.inherit_thread = true;
  a.sigtrap = sigtrap;  // without it (BPF delivery) a hit only runs the attached program
  a.remove_on_exec = true;
  a.sig_data = sig_data(slot, generation);
  a.exclude_kernel = true;
  return a;
}

std::vector<core::Chunk> SlotArming::chunks_of(const Watch& w) const {
  return core::split_range(arch_, w.request());
}

std::vector<core::SlotKey> SlotArming::keys_of(const std::vector<core::Chunk>& chunks) const {
  std::vector<core::SlotKey> keys;
  for (const auto& c : chunks) keys.push_back({c, core::kProcessTarget, true});
  return keys;
}

unsigned SlotArming::free_slots() const {
  unsigned used = table_.thread_load(core::kProcessTarget, 0);
  return arch_.data_slots - std::min(used, arch_.data_slots);
}

std::string SlotArming::budget_message(const Watch& w, std::size_t needed) const {
  const unsigned total = arch_.data_slots, free = free_slots();
  return fmt::format(
      "watch '{}' ({} bytes at {:#x}) needs {} debug-register slot{}, but {} of the {} slots a "
      "thread has {} free{}; watch fewer bytes or fewer variables",
      w.spec.text, w.len, w.addr, needed, needed == 1 ? "" : "s", free, total,
      free == 1 ? "is" : "are", hook_slots_.empty() ? "" : " (" + own_slots_note() + ")");
}

std::optional<int> SlotArming::hook_slot(SessionHook kind) const noexcept {
  auto it = hook_slots_.find(kind);
  return it == hook_slots_.end() ? std::nullopt : std::optional<int>(it->second);
}

std::string SlotArming::own_slots_note() const {
  // Slots the user did not ask for: say which and what for (session_hook.hpp).
  std::string note;
  for (const auto& [kind, slot] : hook_slots_)
    note += fmt::format("{}slot {} is hwbp's own {}", note.empty() ? "" : "; ", slot, own_breakpoint(kind));
  return note;
}

void SlotArming::arm_resolved() { arm_resolved(watches_.ready_to_arm()); }

bool SlotArming::fits(const Watch& w) const {
  return table_.plan(keys_of(chunks_of(w))).plan.has_value();
}

void SlotArming::arm_resolved(const std::vector<core::WatchId>& todo) {
  if (!flexible()) {
    for (core::WatchId id : todo) arm_pinned(id);
    return;
  }
  const core::Pinning pinning = choose_pinned(todo);
  for (std::size_t i = 0; i < pinning.pinned; ++i) arm_pinned(todo[i]);
  std::vector<core::WatchId> joining(todo.begin() + static_cast<long>(pinning.pinned), todo.end());
  if (!joining.empty()) join_rotation(joining);
}

void SlotArming::arm_pinned(core::WatchId id) {
  Watch& w = watches_.at(id);
  const std::vector<core::Chunk> chunks = chunks_of(w);
  const std::vector<core::SlotKey> keys = keys_of(chunks);
  auto result = table_.plan(keys);
  if (!result.plan) throw Error(Errc::no_slots, budget_message(w, chunks.size()));
  table_.commit(*result.plan, keys);
  const std::vector<int> slots(result.plan->slot_of_key.begin(), result.plan->slot_of_key.end());
  const std::vector<int> created(result.plan->created.begin(), result.plan->created.end());
  const BeforeArming before = before_arming(w, slots);  // shared slots may have hits already
  // The delivery knows the watch, with an unknown shadow, before its first hit can fire.
  delivery_.watch_armed(w);
  delivery_.forget_shadow(id);
  for (std::size_t k = 0; k < chunks.size(); ++k) map_slot(slots[k], id, chunks[k]);
  try {
    std::vector<core::SlotKey> created_keys;
    for (int slot : created) created_keys.push_back(table_.key(slot));
    open_on_all_threads(created, created_keys);
  } catch (...) {
    table_.release(slots);
    for (int slot : created) slot_events_.erase(slot);
    throw;
  }
  pinned_slots_[id] = slots;
  std::vector<std::int64_t>& base = count_base_[id];
  base.clear();
  for (int slot : slots) base.push_back(std::find(created.begin(), created.end(), slot) != created.end() ? 0 : slot_count(slot));
  for (int slot : slots) slot_events_[slot].watches.push_back(id);
  settle_shadow(w, slots, before);
  w.state = Watch::State::armed;
  const auto now = Clock::now();
  w.clock.set_watched(true, now);
  w.clock.set_armed(true, now);  // pinned: armed all the time it is watched
}

void SlotArming::open_on_all_threads(const std::vector<int>& slots,
                                     const std::vector<core::SlotKey>& keys, bool force_sigtrap) {
  // Events stay disabled until every slot is open (a failure closes all of it by RAII).
  const bool sigtrap = force_sigtrap || delivery_.uses_sigtrap();
  std::vector<std::pair<int, perf::ThreadEvents>> opened;
  auto open_all = [&] {
    for (std::size_t k = 0; k < slots.size(); ++k) {
      perf::BreakpointAttr attr = attr_for(keys[k].chunk, slots[k], 0, sigtrap);
      opened.emplace_back(slots[k], perf::open_on_process(attr, pid_));
      if (sigtrap) continue;
      for (const auto& ev : opened.back().second.events) delivery_.attach(ev);
    }
    // Enabled before the threads run again: every thread starts being watched at once (copies
    // inherited later follow their parent's state: kernel/events/core.c, inherit_event).
    for (auto& [slot, threads] : opened)
      for (auto& ev : threads.events) ev.enable();
  };
  if (all_stopped_) all_stopped_(open_all);
  else open_all();
  for (auto& [slot, threads] : opened)
    for (auto& ev : threads.events) slot_events_[slot].events.push_back(std::move(ev));
}

std::optional<SlotArming::Mapping> SlotArming::map_slot(int slot, core::WatchId watch,
                                                        const core::Chunk& chunk) {
  std::optional<Mapping> old;
  if (auto m = mapped_.find(slot); m != mapped_.end()) old = m->second;
  const std::vector<core::Chunk> chunks = chunks_of(watches_.at(watch));
  const auto part = static_cast<unsigned>(std::find(chunks.begin(), chunks.end(), chunk) - chunks.begin());
  delivery_.chunk_mapped(chunk, watch, part);
  mapped_[slot] = {chunk, watch};
  return old;
}

void SlotArming::unmap(const Mapping& old) {
  for (const auto& [slot, m] : mapped_)
    if (m == old) return;  // another slot still maps it
  delivery_.chunk_unmapped(old.first, old.second);
}

std::int64_t SlotArming::slot_count(int slot) const {
  std::int64_t total = 0;
  auto it = slot_events_.find(slot);
  if (it == slot_events_.end()) return 0;
  for (const auto& ev : it->second.events) total += std::max<std::int64_t>(0, ev.count());
  return total;
}

std::int64_t SlotArming::slots_count(const std::vector<int>& slots) const {
  std::int64_t total = 0;
  for (int slot : slots) total += slot_count(slot);
  return total;
}

SlotArming::BeforeArming SlotArming::before_arming(const Watch& w, const std::vector<int>& slots) const {
  return {slots_count(slots), read_bytes(w)};
}

void SlotArming::settle_shadow(const Watch& w, const std::vector<int>& slots,
                               const BeforeArming& before) {
  // The program may run on (attach; other threads at a loader stop; rotation turns): a write
  // between arming and this read would make the shadow "new" rather than "old".
  const std::optional<Bytes> bytes = read_bytes(w);
  const std::int64_t count_after = slots_count(slots);
  core::ShadowEvidence evidence;
  evidence.read_ok = bytes.has_value();
  evidence.hit_seen = count_after != before.count;  // the kernel's count (core/value_shadow.hpp)
  evidence.unchanged_across_arming = bytes && before.bytes && *bytes == *before.bytes;
  if (core::shadow_state(evidence) != core::ShadowState::confirmed) return;  // stays unknown
  delivery_.seed_shadow(w.id, *bytes);
  // A hit counted while the seed was stored may have updated the shadow first (BPF: in the
  // kernel); the seed would then be older than that hit's bytes.
  if (slots_count(slots) != count_after) delivery_.forget_shadow(w.id);
}

std::uint64_t SlotArming::live_hits(core::WatchId id) const {
  auto slots = pinned_slots_.find(id);
  auto base = count_base_.find(id);
  if (slots == pinned_slots_.end() || base == count_base_.end()) return 0;
  std::int64_t most = 0;
  for (std::size_t k = 0; k < slots->second.size() && k < base->second.size(); ++k)
    most = std::max(most, slot_count(slots->second[k]) - base->second[k]);
  return static_cast<std::uint64_t>(most);
}

std::optional<std::uint64_t> SlotArming::kernel_hits(core::WatchId id) const {
  if (watches_.at(id).rotating) return std::nullopt;
  auto settled = settled_hits_.find(id);
  return (settled == settled_hits_.end() ? 0 : settled->second) + live_hits(id);
}

void SlotArming::settle_counts() {
  for (const auto& [id, slots] : pinned_slots_) settled_hits_[id] += live_hits(id);
  count_base_.clear();
}

void SlotArming::disable_all() {
  for (auto& [slot, events] : slot_events_)
    for (auto& ev : events.events) ev.disable();  // the inherited copies follow (perf_ioctl)
}

void SlotArming::arm_hook(SessionHook kind, std::uint64_t addr) {
  if (hook_slots_.count(kind)) return;
  core::Chunk chunk{addr, static_cast<std::uint8_t>(arch_.exec_len), core::HwType::exec};
  std::vector<core::SlotKey> keys{{chunk, core::kProcessTarget, true}};
  auto result = table_.plan(keys);
  if (!result.plan && !pool_.empty()) {
    shrink_pool();  // the hook arms watches: it goes before one rotation slot
    result = table_.plan(keys);
  }
  if (!result.plan)
    throw Error(Errc::no_slots, fmt::format("no debug-register slot is left for {}; watch fewer "
                                            "bytes", describe(kind)));
  table_.commit(*result.plan, keys);
  const int slot = result.plan->slot_of_key.at(0);
  hook_slots_[kind] = slot;
  try {
    open_on_all_threads({slot}, keys, true);
  } catch (...) {
    table_.release(result.plan->slot_of_key);
    slot_events_.erase(slot);
    hook_slots_.erase(kind);
    throw;
  }
}

void SlotArming::disarm_hook(SessionHook kind) {
  auto it = hook_slots_.find(kind);
  if (it == hook_slots_.end()) return;
  std::vector<int> slots{it->second};
  table_.release(slots);
  slot_events_.erase(it->second);  // closes the fds
  hook_slots_.erase(it);
  if (!rotating_.empty()) grow_pool(arch_.data_slots);  // the slot goes back to the rotation
}

void SlotArming::disarm_hooks() {
  while (!hook_slots_.empty()) disarm_hook(hook_slots_.begin()->first);
}

std::optional<SessionHook> SlotArming::hook_of(const core::SigData& tag) const noexcept {
  for (const auto& [kind, slot] : hook_slots_)
    if (tag.slot == slot) return kind;
  return std::nullopt;
}

void SlotArming::disarm(core::WatchId id) {
  auto it = pinned_slots_.find(id);
  if (it == pinned_slots_.end()) return;
  const std::vector<int> slots = it->second;
  pinned_slots_.erase(it);
  for (int slot : table_.release(slots)) {
    auto ev = slot_events_.find(slot);
    if (ev != slot_events_.end()) {
      for (auto& e : ev->second.events) e.disable();  // the inherited copies follow
      slot_events_.erase(ev);
    }
    if (auto m = mapped_.find(slot); m != mapped_.end()) {
      const Mapping old = m->second;
      mapped_.erase(m);
      unmap(old);
    }
  }
  for (auto& [slot, ev] : slot_events_) std::erase(ev.watches, id);
  watches_.at(id).mark_disarmed(Clock::now());
}

std::vector<core::WatchId> SlotArming::watches_of(const core::SigData& tag,
                                                  std::uint64_t trap_addr) const {
  if (auto t = turns_.find(tag.slot); t != turns_.end()) {
    const Turn& turn = t->second;
    const bool stale = tag.generation != turn.generation || (trap_addr != 0 && trap_addr != turn.addr);
    if (stale || !turn.watch) return {};
    return {*turn.watch};
  }
  auto it = slot_events_.find(tag.slot);
  if (it == slot_events_.end()) return {};
  return it->second.watches;
}

bool SlotArming::on_hardware(core::WatchId id) const {
  const Watch& w = watches_.at(id);
  if (w.state != Watch::State::armed) return false;
  if (!w.rotating) return true;
  for (const auto& [slot, turn] : turns_)
    if (turn.watch == id) return true;
  return false;
}

std::optional<Bytes> SlotArming::read_bytes(const Watch& w) const {
  if (w.spec.access == Access::exec) return std::nullopt;
  try {
    return symbols::ProcessMemory(pid_).read(w.addr, w.len);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void SlotArming::close_all() {
  settle_counts();
  const auto now = Clock::now();
  clear_rotation(now);
  disarm_hooks();
  for (auto& w : watches_.all()) {
    w.clock.set_armed(false, now);
    w.clock.set_watched(false, now);
    if (w.state != Watch::State::armed) continue;
    if (auto it = pinned_slots_.find(w.id); it != pinned_slots_.end()) table_.release(it->second);
    w.state = Watch::State::dropped;
  }
  pinned_slots_.clear();
  slot_events_.clear();
  delivery_.chunks_cleared();
  mapped_.clear();
}

void SlotArming::reset_after_exec(pid_t pid) {
  pid_ = pid;
  clear_rotation(Clock::now());
  settle_counts();  // the events still answer read(2) after remove_on_exec detached them
  slot_events_.clear();  // remove_on_exec already detached them from the program
  delivery_.chunks_cleared();
  mapped_.clear();
  pinned_slots_.clear();
  table_ = core::SlotTable(arch_, kTableCapacity, core::slots_per_pool(arch_));
  hook_slots_.clear();
}

}  // namespace hwbp::cli
