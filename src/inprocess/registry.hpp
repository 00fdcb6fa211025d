// The in-process watch registry: the watch set (intent), its slots (core::SlotTable) and their
// realisation as perf events, kept consistent under one mutex. Every change is transactional:
// it either completes or leaves the set as it was. The SIGTRAP handler never takes the mutex;
// it reads the DispatchTable snapshots this class publishes.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/active.hpp"
#include "core/arch.hpp"
#include "core/request.hpp"
#include "core/slot_table.hpp"
#include "hwbp/hwbp.hpp"
#include "inprocess/coverage.hpp"
#include "inprocess/dispatch.hpp"

namespace hwbp::inprocess {

class Registry {
 public:
  static Registry& instance();

  std::uint64_t arm(const WatchOptions& options);
  void remove(std::uint64_t id) noexcept;
  void set_enabled(std::uint64_t id, bool enabled);
  bool enabled(std::uint64_t id) const;
  void retarget(std::uint64_t id, std::uintptr_t addr, std::size_t len);
  std::uint64_t hits(std::uint64_t id) const;
  std::vector<ChunkInfo> chunks(std::uint64_t id) const;
  core::WatchRequest request(std::uint64_t id) const;
  bool active() const noexcept { return active_.active(); }
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
  };
  // The hardware side of one slot-table entry.
  struct SlotHw {
    std::uint32_t generation = 0;
    ThreadEvents threads;
    bool hw_enabled = false;
  };

  Registry();
  WatchRecord& find(std::uint64_t id) const;
  std::vector<core::SlotKey> keys_for(const core::WatchRequest& request, const Target& target,
                                      bool counting) const;
  void check_plan(const core::SlotTable::PlanResult& result, const core::WatchRequest& request,
                  const std::vector<core::SlotKey>& keys) const;
  // Opens, subscribes and (if the watch is enabled) enables the slots for `keys`.
  void attach(WatchRecord& rec, const std::vector<core::SlotKey>& keys);
  void detach(WatchRecord& rec) noexcept;
  bool try_retarget_in_place(WatchRecord& rec, const std::vector<core::SlotKey>& keys);
  void publish_slot(int slot);
  // Enables the slot's events if any subscriber is enabled, disables them otherwise.
  void sync_hw_state(int slot);
  bool slot_needs_values(int slot) const;
  void refresh_shadow_if_needed(int slot);
  perf::BreakpointAttr attr_for(int slot) const;
  unsigned slots_on_thread(pid_t tid) const;

  mutable std::mutex mu_;
  core::ArchInfo arch_;
  core::SlotTable table_;
  std::array<SlotHw, DispatchTable::kCapacity> hw_{};
  std::map<std::uint64_t, std::unique_ptr<WatchRecord>> watches_;
  std::uint64_t next_id_ = 1;
  std::uint32_t next_generation_ = 1;
  core::ActiveIndicator active_{detail::g_armed_slots};
};

}  // namespace hwbp::inprocess
