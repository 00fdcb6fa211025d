#include "perf/thread_coverage.hpp"
#include "watch_set.hpp"

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "core/request.hpp"
#include "core/split.hpp"
#include "hwbp/error.hpp"
#include "perf/errors.hpp"
#include "perf/threads.hpp"
#include "symbols/process_memory.hpp"
#include "bpf/hit_program.hpp"
#include "symbols/symbol_error.hpp"

namespace hwbp::cli {
namespace {

std::vector<unsigned> slots_per_pool(const core::ArchInfo& arch) {
  std::vector<unsigned> v;
  for (unsigned p = 0; p < arch.pool_count(); ++p)
    v.push_back(arch.mixed_pool ? arch.data_slots : (p == 0 ? arch.inst_slots : arch.data_slots));
  return v;
}

perf::BreakpointAttr attr_for(const core::Chunk& c, int slot, bool sigtrap) {
  perf::BreakpointAttr a;
  a.addr = c.addr;
  a.len = c.len;
  a.type = c.type;
  a.disabled = true;
  a.inherit = true;
  a.inherit_thread = true;
  a.sigtrap = sigtrap;  // without it (BPF delivery) a hit only runs the attached program
  a.remove_on_exec = true;
  a.sig_data = WatchSet::kTag | static_cast<std::uint64_t>(slot);
  a.exclude_kernel = true;
  return a;
}

}  // namespace

WatchSet::WatchSet(pid_t pid, std::vector<core::WatchSpec> specs)
    : pid_(pid), arch_(core::host_arch()), table_(arch_, 64, slots_per_pool(arch_)) {
  for (auto& s : specs) {
    Watch w;
    w.spec = std::move(s);
    watches_.push_back(std::move(w));
  }
}

bool WatchSet::any_pending() const {
  for (const auto& w : watches_)
    if (w.state == Watch::State::pending) return true;
  return false;
}

void WatchSet::resolve(const symbols::SymbolTable& table) {
  for (auto& w : watches_)
    if (w.state == Watch::State::pending && w.addr == 0) resolve_one(w, table);
}

void WatchSet::resolve_one(Watch& w, const symbols::SymbolTable& table) {
  const auto& s = w.spec;
  std::size_t len = s.len;
  std::uint64_t addr = s.addr;
  if (s.kind == core::WatchSpec::Kind::symbol) {
    std::string name = s.symbol + (s.offset ? fmt::format("+{:#x}", s.offset) : "");
    symbols::ResolvedSymbol sym;
    try {
      sym = table.resolve(name);
    } catch (const symbols::SymbolError& e) {
      if (e.symbol_code() != symbols::SymbolErrc::not_found) throw;
      w.unresolved_reason = e.what();  // stays pending: a library may define it later
      return;
    }
    addr = sym.address;
    if (len == 0) {
      if (sym.size <= s.offset)
        throw Error(Errc::invalid_request,
                    fmt::format("watch '{}': the size of '{}' is unknown; give a length, e.g. "
                                "'{}:8'", s.text, s.symbol, s.text));
      len = sym.size - s.offset;
    }
    w.label = name;
  } else {
    w.label = fmt::format("{:#x}", addr);
  }
  core::WatchRequest req{addr, len, s.access};
  if (auto bad = core::validate_range(arch_, req))
    throw Error(Errc::invalid_request, fmt::format("watch '{}': {}", s.text, bad->message));
  w.addr = addr;
  w.len = s.access == Access::exec ? 1 : len;
}

std::string WatchSet::budget_message(const Watch& w, std::size_t needed) const {
  unsigned total = arch_.data_slots;
  unsigned used = table_.thread_load(core::kProcessTarget, 0);
  return fmt::format(
      "watch '{}' ({} bytes at {:#x}) needs {} debug-register slot{}, but {} of the {} slots a "
      "thread has {} free; watch fewer bytes or fewer variables",
      w.spec.text, w.len, w.addr, needed, needed == 1 ? "" : "s", total - std::min(used, total),
      total, total - std::min(used, total) == 1 ? "is" : "are");
}

std::vector<core::Chunk> WatchSet::chunks_of(const Watch& w) const {
  return core::split_range(arch_, {w.addr, w.len, w.spec.access});
}

unsigned WatchSet::free_slots() const {
  unsigned used = table_.thread_load(core::kProcessTarget, 0);
  return arch_.data_slots - std::min(used, arch_.data_slots);
}

void WatchSet::arm_resolved() {
  std::vector<int> todo;
  for (std::size_t i = 0; i < watches_.size(); ++i)
    if (watches_[i].state == Watch::State::pending && watches_[i].len != 0)
      todo.push_back(static_cast<int>(i));
  if (!flexible()) {
    for (int i : todo) arm_one(i);
    return;
  }
  std::vector<int> pinned = choose_pinned(todo), joining;
  for (int i : todo) {
    if (std::find(pinned.begin(), pinned.end(), i) != pinned.end()) arm_one(i);
    else joining.push_back(i);
  }
  if (!joining.empty()) join_rotation(joining);
}

void WatchSet::arm_one(int index) {
  Watch& w = watches_[static_cast<std::size_t>(index)];
  auto chunks = chunks_of(w);
  std::vector<core::SlotKey> keys;
  for (const auto& c : chunks) keys.push_back({c, core::kProcessTarget, true});
  auto result = table_.plan(keys);
  if (!result.plan) throw Error(Errc::no_slots, budget_message(w, chunks.size()));
  table_.commit(*result.plan, keys);
  std::vector<int> created = result.plan->created;
  std::int64_t before = 0;  // hits so far on the slots (shared ones may have some)
  for (int slot : result.plan->slot_of_key) before += slot_count(slot);
  if (bpf_) {
    // The program must know the watch before the first hit can fire; its old bytes are
    // settled once every thread is armed (the program may be running).
    w.shadow.clear();
    bpf_describe(index);
    for (std::size_t k = 0; k < chunks.size(); ++k)
      bpf_map_slot(result.plan->slot_of_key[k], index, chunks[k]);
  }
  try {
    std::vector<core::SlotKey> created_keys;
    for (int slot : created) created_keys.push_back(table_.key(slot));
    open_on_all_threads(created, created_keys);
  } catch (...) {
    table_.release(result.plan->slot_of_key);
    for (int slot : created) slot_events_.erase(slot);
    throw;
  }
  w.slots = result.plan->slot_of_key;
  for (int slot : w.slots) slot_events_[slot].watches.push_back(index);
  if (bpf_) settle_shadow(index, w.slots, before);
  else w.shadow = read_bytes(w).value_or(std::vector<std::uint8_t>{});
  w.state = Watch::State::armed;
  auto now = Watch::Clock::now();
  w.set_watched(true, now);
  w.set_armed(true, now);  // pinned: armed all the time it is watched
}

void WatchSet::open_on_all_threads(const std::vector<int>& slots,
                                   const std::vector<core::SlotKey>& keys, bool sigtrap) {
  // perf::open_on_process scans /proc/PID/task until stable and opens inherited events; the
  // events stay disabled until every slot is open (a failure closes all of it by RAII).
  std::vector<std::pair<int, perf::ThreadEvents>> opened;
  for (std::size_t k = 0; k < slots.size(); ++k) {
    perf::BreakpointAttr attr = attr_for(keys[k].chunk, slots[k], sigtrap || !bpf_);
    attr.disabled = true;
    opened.emplace_back(slots[k], perf::open_on_process(attr, pid_));
    if (attr.sigtrap) continue;
    for (auto& ev : opened.back().second.events) bpf_->attach(ev.fd());
  }
  for (auto& [slot, threads] : opened)
    for (auto& ev : threads.events) ev.enable();
  for (auto& [slot, threads] : opened)
    for (auto& ev : threads.events) slot_events_[slot].events.push_back(std::move(ev));
}

void WatchSet::arm_loader_hook(std::uint64_t addr) {
  if (loader_slot_ >= 0) return;
  core::Chunk chunk{addr, static_cast<std::uint8_t>(arch_.exec_len), core::HwType::exec};
  std::vector<core::SlotKey> keys{{chunk, core::kProcessTarget, true}};
  auto result = table_.plan(keys);
  if (!result.plan && !pool_.empty()) {
    shrink_pool();  // the hook arms the libraries' watches: it goes before one rotation slot
    result = table_.plan(keys);
  }
  if (!result.plan)
    throw Error(Errc::no_slots,
                "no debug-register slot is left for the breakpoint on the dynamic loader that "
                "arms watches in libraries loaded later; watch fewer bytes");
  table_.commit(*result.plan, keys);
  loader_slot_ = result.plan->slot_of_key.at(0);
  try {
    open_on_all_threads({loader_slot_}, keys, true);
  } catch (...) {
    table_.release(result.plan->slot_of_key);
    slot_events_.erase(loader_slot_);
    loader_slot_ = -1;
    throw;
  }
}

void WatchSet::disarm_loader_hook() {
  if (loader_slot_ < 0) return;
  std::vector<int> slots{loader_slot_};
  table_.release(slots);
  slot_events_.erase(loader_slot_);  // closes the fds
  loader_slot_ = -1;
  if (!rotating_.empty()) grow_pool(arch_.data_slots);  // the slot goes back to the rotation
}

bool WatchSet::is_loader_hit(std::uint64_t sig_data) const noexcept {
  return is_tagged(sig_data) && loader_slot_ >= 0 &&
         static_cast<int>(sig_data & kSlotMask) == loader_slot_;
}

std::vector<int> WatchSet::watches_of(std::uint64_t sig_data, std::uint64_t trap_addr) const {
  if (auto t = turns_.find(static_cast<int>(sig_data & kSlotMask)); t != turns_.end()) {
    const Turn& turn = t->second;
    bool stale = ((sig_data & kGenerationMask) >> 16) != turn.generation ||
                 (trap_addr != 0 && trap_addr != turn.addr);
    if (!is_tagged(sig_data) || stale || turn.watch < 0) return {};
    return {turn.watch};
  }
  auto it = slot_events_.find(static_cast<int>(sig_data & kSlotMask));
  if (!is_tagged(sig_data) || it == slot_events_.end()) return {};
  return it->second.watches;
}

namespace {
bool is_data(const Watch& w) {
  return w.state != Watch::State::pending && w.len != 0 && w.spec.access != Access::exec;
}
bool overlap(std::uint64_t a, std::uint64_t alen, std::uint64_t b, std::uint64_t blen) {
  return a < b + blen && b < a + alen;
}
}  // namespace

bool WatchSet::overlaps_another(int index) const {
  const Watch& w = watches_[std::size_t(index)];
  if (!is_data(w)) return false;
  for (std::size_t i = 0; i < watches_.size(); ++i)
    if (int(i) != index && is_data(watches_[i]) && overlap(w.addr, w.len, watches_[i].addr, watches_[i].len))
      return true;
  return false;
}

bool WatchSet::touched(const Watch& w, const std::vector<symbols::DataAccess>& accesses) const {
  if (!is_data(w)) return false;
  // What the hardware watches for this access kind (value filters such as modify come later).
  const core::HwType type = core::hw_type_for(arch_, w.spec.access);
  for (const auto& a : accesses) {
    bool triggers = type == core::HwType::write  ? a.write
                    : type == core::HwType::read ? a.read
                                                 : a.read || a.write;
    if (triggers && overlap(w.addr, w.len, a.addr, a.size)) return true;
  }
  return false;
}

std::vector<int> WatchSet::touched_on_hardware(const std::vector<symbols::DataAccess>& accesses) const {
  std::vector<int> out;
  for (std::size_t i = 0; i < watches_.size(); ++i) {
    const Watch& w = watches_[i];
    if (w.state != Watch::State::armed || !touched(w, accesses)) continue;
    bool on_turn = !w.rotating;
    for (const auto& [slot, turn] : turns_) on_turn = on_turn || turn.watch == int(i);
    if (on_turn) out.push_back(int(i));
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> WatchSet::read_bytes(const Watch& w) const {
  if (w.spec.access == Access::exec) return std::nullopt;
  try {
    return symbols::ProcessMemory(pid_).read(w.addr, w.len);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void WatchSet::bpf_describe(int index) {
  if (!bpf_) return;
  const Watch& w = watches_[std::size_t(index)];
  hwbp_bpf_filter filter = w.spec.access == Access::modify ? HWBP_BPF_CHANGED
                           : w.spec.access == Access::read ? HWBP_BPF_UNCHANGED
                           : w.spec.access == Access::exec ? HWBP_BPF_NO_VALUE
                                                           : HWBP_BPF_EVERY;
  auto i = static_cast<std::uint32_t>(index);
  bpf_->set_watch(i, w.addr, static_cast<std::uint32_t>(w.len), filter, bpf_stack_bytes_,
                  bpf_count_only_);
  bpf_->set_shadow(i, w.shadow.empty() ? std::nullopt : std::optional(w.shadow));
}

void WatchSet::bpf_map_slot(int slot, int watch, const core::Chunk& chunk) {
  if (!bpf_) return;
  if (watch >= 0) {
    auto chunks = chunks_of(watches_[std::size_t(watch)]);
    auto part = std::find(chunks.begin(), chunks.end(), chunk) - chunks.begin();
    bpf_->add_chunk(chunk.addr, chunk.len, static_cast<std::uint32_t>(chunk.type),
                    static_cast<std::uint32_t>(watch), static_cast<std::uint32_t>(part));
  }
  bpf_mapped_[slot] = {chunk, watch};
}

void WatchSet::bpf_forget(const BpfMapping& mapping) {
  // Another slot may still map it.
  for (const auto& [slot, m] : bpf_mapped_)
    if (m == mapping) return;
  const auto& [chunk, watch] = mapping;
  if (watch >= 0)
    bpf_->remove_chunk(chunk.addr, chunk.len, static_cast<std::uint32_t>(chunk.type),
                       static_cast<std::uint32_t>(watch));
}

void WatchSet::close_all() {
  clear_rotation(Watch::Clock::now());
  disarm_loader_hook();
  for (auto& w : watches_) {
    w.set_armed(false, Watch::Clock::now());
    w.set_watched(false, Watch::Clock::now());
    if (w.state != Watch::State::armed) continue;
    table_.release(w.slots);
    w.slots.clear();
    w.state = Watch::State::dropped;
  }
  slot_events_.clear();
  if (bpf_) bpf_->clear_chunks();
  bpf_mapped_.clear();
}

void WatchSet::reset_after_exec(pid_t pid) {
  pid_ = pid;
  clear_rotation(Watch::Clock::now());
  slot_events_.clear();  // remove_on_exec already detached them from the program
  if (bpf_) bpf_->clear_chunks();
  bpf_mapped_.clear();
  table_ = core::SlotTable(arch_, 64, slots_per_pool(arch_));
  loader_slot_ = -1;
  for (auto& w : watches_) {
    w.slots.clear();
    w.shadow.clear();
    w.set_armed(false, Watch::Clock::now());
    w.set_watched(false, Watch::Clock::now());
    w.rotating = w.old_unknown = false;  // re-decided when it is armed again
    bool by_name = w.spec.kind == core::WatchSpec::Kind::symbol;
    w.state = by_name ? Watch::State::pending : Watch::State::dropped;
    if (by_name) w.addr = 0, w.len = 0;
  }
}

}  // namespace hwbp::cli
