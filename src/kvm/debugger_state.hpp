// GuestDebugger's state (private to src/kvm): the watch set, the slot table of the four debug
// registers, the write traps, and per vCPU what it ran with and what it owes the next run.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "core/arch.hpp"
#include "core/slot_table.hpp"
#include "hwbp/kvm.hpp"
#include "kvm/debug_state.hpp"
#include "kvm/guest_ram.hpp"
#include "kvm/kvm_fd.hpp"
#include "kvm/page_walk.hpp"
#include "kvm/watch.hpp"
#include "kvm/watch_set.hpp"
#include "kvm/write_traps.hpp"

namespace hwbp::kvm {

// Where a vCPU stopped on something that fires again if it runs on unchanged: an execute
// breakpoint (a fault: rip stays on it), DR7.GD (also a fault), an int3 of the library.
struct Stop {
  std::uint64_t pc = 0;  // linear
  std::uint8_t exec_slots = 0;
  bool general_detect = false;
  WatchId software = 0;
};

struct VcpuState {
  VcpuState() = default;
  ~VcpuState();  // unmaps the library's own mapping of kvm_run
  VcpuState(const VcpuState&) = delete;
  VcpuState& operator=(const VcpuState&) = delete;
  int fd = -1;
  kvm_run* run = nullptr;
  std::size_t run_size = 0;
  std::uint64_t valid_regs_before = 0;  // kvm_valid_regs as the VMM had it
  bool running = false;                 // between prepare_run and handle_exit
  bool user_step = false;
  std::optional<Stop> stop;    // reported, not yet resumed from
  bool stepping_over = false;  // this run steps over `stop`
  bool synced = false;         // kvm_run.s.regs holds this vCPU's registers
  bool applied_valid = false;
  bool software_lifted = false;  // the int3 of `stop` is out for its step-over
  DebugRequest applied;          // what KVM_SET_GUEST_DEBUG last got
  kvm_guest_debug applied_raw{};
  kvm_guest_debug sent{};  // apply_all: what KVM took, recorded once every vCPU has taken its own
  enum class Inject : std::uint8_t { none, debug, breakpoint } inject = Inject::none;
  std::uint64_t inject_dr6 = 0;
  std::vector<Event> events;
  std::size_t mapping_cursor = 0;  // round-robin over write-trap pages to re-check
};

// One watched virtual page of a write-trap watch and where it mapped when armed.
struct MappingCheck {
  WatchId watch = 0;
  std::uint64_t gva_page = 0;
  std::uint64_t gpa_page = 0;
  std::uint64_t cr3 = 0;
};

struct GuestDebugger::Impl {
  Capabilities caps;
  int vm_fd = -1;
  std::vector<std::unique_ptr<VcpuState>> vcpus;
  std::unique_ptr<GuestRam> ram;
  std::unique_ptr<WriteTraps> traps;
  core::SlotTable table{core::arch_x86_guest(true), kDebugRegisters, {kDebugRegisters}};
  WatchSet watches;
  WatchId next_id = 1;
  bool block_irq = false;
  bool general_detect = false;
  bool detached = false;
  std::vector<MappingCheck> mapping_checks;  // every write-trap page, rebuilt on changes
  // Working storage of add() and remove(), kept between calls so that changing the watch set
  // allocates nothing once these have grown (arming is a hot path for debuggers). Only used
  // under `mutex`, and empty between calls.
  struct Scratch {
    std::vector<TrapRequest> traps;
    std::vector<WatchId> ids;
  } scratch;
  mutable std::mutex mutex;                  // the configuration, the running flags, the value shadows

  // ---- helpers (debugger_core.cpp) ----
  // add() with the ids written into `ids` (ids.size() == specs.size()); the caller holds `mutex`.
  void add_locked(std::span<const WatchSpec> specs, std::span<WatchId> ids);
  void remove_locked(std::span<const WatchId> ids);
  void require_stopped(const char* what) const;
  void require_vcpu(unsigned vcpu) const;
  DebugRequest base_request(const core::SlotTable& t) const;
  DebugRequest request_for(const VcpuState& v, const DebugRequest& base) const;
  void apply(VcpuState& v, const DebugRequest& request);
  // KVM_SET_GUEST_DEBUG with `request` composed; returns what KVM got (nothing recorded).
  kvm_guest_debug set_guest_debug(const VcpuState& v, const DebugRequest& request) const;
  static void record_applied(VcpuState& v, const DebugRequest& request, const kvm_guest_debug& dbg);
  void apply_all(const core::SlotTable& t);
  PagingState paging(const VcpuState& v) const;
  Translation walk(const VcpuState& v, std::uint64_t gva) const;
  std::uint64_t linear_rip(const VcpuState& v) const;
  bool read_virtual(const VcpuState& v, std::uint64_t gva, std::uint8_t* out, std::size_t len) const;
  void detach_locked() noexcept;
  void release_vcpus() noexcept;  // a failed attach: kvm_valid_regs as they were, mappings gone
  void rebuild_mapping_checks();
  // The pieces of [addr, addr + len) in guest-physical memory as `v` sees it (`pieces` may be
  // null: only checks). The failure and the first address that does not translate, if any.
  WalkFailure translate_range(const VcpuState& v, std::uint64_t addr, std::uint64_t len,
                              std::vector<TrapPiece>* pieces, std::uint64_t* failed_at) const;
  void end_step_over(VcpuState& v);

  // ---- exits (debugger_exits.cpp) ----
  void decode_debug(unsigned index, VcpuState& v);
  bool decode_mmio(unsigned index, VcpuState& v);
  void check_mappings(unsigned index, VcpuState& v);
  void report_data_hit(unsigned index, VcpuState& v, Watch& w, std::size_t chunk);
};

// True when a thread of this process is inside ioctl(fd, KVM_RUN) (from
// /proc/self/task/*/syscall): a vCPU must not be reconfigured under a running guest.
bool vcpu_in_kvm_run(int fd);
// The id of another thread of this process executing guest code right now (its guest time
// grows over a few clock ticks), or 0. Only threads running with some guest time are sampled.
long thread_running_guest_code();

}  // namespace hwbp::kvm
