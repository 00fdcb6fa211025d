// The in-process watch registry: the watch set (intent), its slots (core::SlotTable) and their
// realisation as perf events, kept consistent under one mutex. Every change is transactional:
// it either completes or leaves the set as it was. The SIGTRAP handler never takes the mutex;
// it reads the DispatchTable snapshots this class publishes.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/active.hpp"
#include "core/arch.hpp"
#include "core/coverage_clock.hpp"
#include "core/engine_choice.hpp"
#include "core/request.hpp"
#include "core/slot_table.hpp"
#include "hwbp/hwbp.hpp"
#include "inprocess/admission.hpp"
#include "inprocess/coverage.hpp"
#include "inprocess/dispatch.hpp"
#include "inprocess/software_watch.hpp"

namespace hwbp::inprocess {

// sig_data of the library's events: core/sig_data.hpp with the library's owner tag.
std::uint64_t sig_data_of(int slot, std::uint32_t generation) noexcept;

class Registry {
 public:
  using Clock = std::chrono::steady_clock;
  static Registry& instance();

  std::uint64_t arm(const WatchOptions& options);
  void remove(std::uint64_t id) noexcept;
  void set_enabled(std::uint64_t id, bool enabled);
  bool enabled(std::uint64_t id) const;
  void retarget(std::uint64_t id, std::uintptr_t addr, std::size_t len);
  std::uint64_t hits(std::uint64_t id) const;
  std::vector<ChunkInfo> chunks(std::uint64_t id) const;
  core::WatchRequest request(std::uint64_t id) const;
  double coverage(std::uint64_t id) const;
  // The mechanism serving the watch and why (core::choose_engine).
  core::Mechanism mechanism(std::uint64_t id) const;
  core::EngineReason mechanism_reason(std::uint64_t id) const;
  void set_rotation_interval(std::chrono::microseconds interval);
  const core::ArchInfo& arch() const noexcept { return arch_; }

 private:
  struct WatchRecord {
    std::uint64_t id = 0;
    core::WatchRequest request;
    Target target;
    Callback callback;
    std::atomic<bool> enabled{false};
    std::atomic<std::uint64_t> hits{0};
    std::vector<int> slots;                  // slot of each chunk, in chunk order
    std::vector<std::int64_t> count_base;    // kernel-counted slots: count when the watch joined
    // Flexible watches: the chunk keys to schedule into rotation slots (slots empty = parked).
    bool flexible = false;
    std::vector<core::SlotKey> keys;
    // Time armed (enabled and holding slots) out of the time since arming.
    core::CoverageClock coverage = watched_from(Clock::now());
    // Which mechanism serves the watch (core::choose_engine) and, for page protection and
    // uprobes, the watch on that mechanism (destroyed, i.e. disarmed, before the record).
    core::Mechanism mechanism = core::Mechanism::debug_registers;
    core::EngineReason reason = core::EngineReason::fits_slots;
    EndCallback on_end;
    std::unique_ptr<SoftwareWatch> software;
  };
  static core::CoverageClock watched_from(Clock::time_point now) {
    core::CoverageClock c;
    c.set_watched(true, now);
    return c;
  }
  // Slots held by the rotator for one target, and the flexible watches taking turns on them.
  struct RotationPool {
    Target target;
    std::vector<int> slots;
    std::vector<std::uint64_t> order;  // round robin
    std::size_t cursor = 0;
  };
  // The hardware side of one slot-table entry.
  struct SlotHw {
    std::uint32_t generation = 0;
    ThreadEvents threads;
    bool hw_enabled = false;
  };

  // Bit of the active indicator raised while any page-protection or uprobe watch is armed.
  static constexpr unsigned kSoftwareActiveBit = 63;
  static_assert(DispatchTable::kCapacity <= static_cast<int>(kSoftwareActiveBit));

  Registry();
  WatchRecord& find(std::uint64_t id) const;
  // core::choose_engine with this machine's facts. The page engine's and the uprobes' facts cost
  // a probe each: only the one the choice depends on is established.
  core::EngineChoice choose(core::EngineRequest wanted, const WatchOptions& options, bool fits_slots) const;
  std::uint64_t arm_hardware(const WatchOptions& options, const core::EngineChoice& choice);
  std::uint64_t arm_software(const WatchOptions& options, const core::EngineChoice& choice);
  void sync_software_active() noexcept;
  std::vector<core::SlotKey> keys_for(const core::WatchRequest& request, const Target& target,
                                      bool counting) const;
  void check_plan(const core::SlotTable::PlanResult& result, const core::WatchRequest& request,
                  const std::vector<core::SlotKey>& keys) const;
  // Opens, subscribes and (if the watch is enabled) enables the slots for `keys`.
  void attach(WatchRecord& rec, const std::vector<core::SlotKey>& keys);
  void detach(WatchRecord& rec) noexcept;
  // The kernel's rule (core::SlotAccountant) for every slot the plan creates; all or none.
  void admit_created(const core::SlotTable::Plan& plan, const std::vector<core::SlotKey>& keys,
                     const core::WatchRequest& request);
  // Opens the events of a newly created slot for rec's target, enabled if rec is.
  void open_slot(int slot, const WatchRecord& rec, std::size_t not_yet_open);
  bool try_retarget_in_place(WatchRecord& rec, const std::vector<core::SlotKey>& keys);
  void publish_slot(int slot);
  // Enables the slot's events if any subscriber is enabled, disables them otherwise.
  void sync_hw_state(int slot);
  bool slot_needs_values(int slot) const;
  bool may_race(int slot) const;
  std::int64_t slot_count(int slot) const;
  // The value shadow around arming a slot (core/value_shadow.hpp): read before, confirmed after.
  // begin_shadow() returns whether finish_shadow() has to confirm (another thread may write).
  bool begin_shadow(int slot);
  void finish_shadow(int slot, bool confirm);
  perf::BreakpointAttr attr_for(int slot) const;
  unsigned slots_on_thread(pid_t tid) const;
  void update_armed(WatchRecord& rec);

  // Flexible-watch rotation (rotation.cpp).
  std::uint64_t arm_flexible(std::unique_ptr<WatchRecord> rec);
  void remove_flexible(WatchRecord& rec) noexcept;
  void retarget_flexible(WatchRecord& rec, const core::WatchRequest& request,
                         std::vector<core::SlotKey> keys);
  RotationPool& pool_for(const Target& target);
  bool grow_pool(RotationPool& pool, std::size_t want);
  void shrink_pool(RotationPool& pool) noexcept;
  bool shrink_any_pool() noexcept;
  void schedule(WatchRecord& rec, const std::vector<int>& slots) noexcept;
  void unschedule(WatchRecord& rec) noexcept;
  void rotate(RotationPool& pool) noexcept;
  void start_rotator();
  void rotator_loop();

  mutable std::mutex mu_;
  core::ArchInfo arch_;
  core::SlotTable table_;
  Admission admission_;
  std::array<SlotHw, DispatchTable::kCapacity> hw_{};
  std::map<std::uint64_t, std::unique_ptr<WatchRecord>> watches_;
  std::uint64_t next_id_ = 1;
  std::uint32_t next_generation_ = 1;
  std::uint32_t next_rotation_id_ = 1;
  std::map<std::uint64_t, RotationPool> rotation_;  // by SlotKey target
  std::condition_variable rotator_cv_;
  bool rotator_running_ = false;
  std::chrono::microseconds interval_{5000};
  core::ActiveIndicator active_{detail::g_armed_slots};
};

}  // namespace hwbp::inprocess
