// hwbp::kvm — hardware breakpoints and exact write watches inside a KVM guest.
//
// The guest side of hwbp: a VMM hands its VM fd, its vCPU fds and its guest-RAM regions to a
// GuestDebugger, then passes every exit through it. The library arms breakpoints and watches on
// guest *virtual* (linear) addresses through KVM_SET_GUEST_DEBUG (the four debug registers, split
// and shared by hwbp's core exactly as for processes) or, for stores, by trapping writes to the
// guest pages that hold them (a read-only memslot: any size, any number, on any backend). It
// decodes KVM_EXIT_DEBUG from its own slot table, steps over execute breakpoints, re-injects the
// guest's own #DB/#BP, and completes trapped stores with their exact old and new bytes.
//
// Integration (docs/kvm.md has the full example):
//
//   hwbp::kvm::GuestDebugger dbg({vm_fd, {vcpu_fd}, {{0, 0, ram_size, ram}}});
//   dbg.add({.addr = 0xffffffff81234560, .len = 4, .access = hwbp::Access::modify});
//   for (;;) {
//     dbg.prepare_run(0);
//     ioctl(vcpu_fd, KVM_RUN, 0);
//     auto result = dbg.handle_exit(0);
//     for (const auto& e : result.events) report(e);
//     if (result.consumed) continue;
//     ... the VMM's own exit handling, untouched ...
//   }
//
// Threads: each vCPU's prepare_run/handle_exit may run on its own thread. Changes to the set
// (add, remove, single_step, ...) are refused while any vCPU is between prepare_run and
// handle_exit: stop them first (kvm_run.immediate_exit and a signal, as every VMM does for a
// pause).
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "hwbp/error.hpp"
#include "hwbp/types.hpp"

namespace hwbp::kvm {

// ---- what this machine's KVM can do -------------------------------------------------------

// A piece of KVM the library may need. Each has its own message (what it means, what to do).
enum class Feature : std::uint8_t {
  dev_kvm,               // /dev/kvm opens read-write
  api_version,           // KVM_GET_API_VERSION == 12
  guest_debug,           // KVM_SET_GUEST_DEBUG works
  block_irq,             // KVM_GUESTDBG_BLOCKIRQ is in the SET_GUEST_DEBUG2 mask (Linux 5.15)
  debug_registers,       // KVM_GET/SET_DEBUGREGS (the guest's own DR view)
  readonly_memory,       // KVM_MEM_READONLY memslots (write-trap watches)
  sync_registers,        // KVM_CAP_SYNC_REGS (registers in kvm_run at every exit, Linux 4.17)
  data_hits,             // the backend reports guest data-breakpoint hits (measured)
  int3_exits,            // int3 with KVM_GUESTDBG_USE_SW_BP exits to the VMM (measured)
  general_detect_exits,  // DR7.GD traps a guest MOV DR to the VMM (measured)
  trapped_stores,        // a store into a read-only memslot exits with exact data (measured)
};
const char* to_string(Feature feature) noexcept;

class KvmError : public Error {
 public:
  KvmError(Errc code, Feature missing, std::string message, int sys_errno = 0)
      : Error(code, std::move(message), sys_errno), missing_(missing) {}
  Feature missing() const noexcept { return missing_; }

 private:
  Feature missing_;
};

enum class Backend : std::uint8_t {
  none,      // no /dev/kvm
  vmx,       // kvm_intel
  svm,       // kvm_amd
  software,  // another backend (e.g. kvm_pvm: guest code largely runs in KVM's emulator)
};
const char* to_string(Backend backend) noexcept;

struct Capabilities {
  int api_version = 0;
  bool guest_debug = false;
  std::uint32_t guest_debug_mask = 0;  // KVM_CAP_SET_GUEST_DEBUG2; 0: the kernel does not say
  bool block_irq = false;
  bool debug_registers = false;
  bool readonly_memory = false;
  bool sync_registers = false;
  unsigned memslots = 0;  // KVM_CAP_NR_MEMSLOTS
  Backend backend = Backend::none;
  std::string module;  // "kvm_intel", "kvm_amd", "kvm_pvm", ... or ""
  // Measured once by running a tiny real-mode guest (the only way to know: KVM does not say).
  bool guest_ran = false;
  std::string guest_error;  // why the probe guest could not run, when !guest_ran
  bool data_hits = false;
  bool int3_exits = false;
  bool general_detect_exits = false;
  bool trapped_stores = false;

  bool has(Feature feature) const noexcept;
  // The typed error for a missing feature: what it means and what to do.
  KvmError missing(Feature feature) const;
  void require(Feature feature) const {
    if (!has(feature)) throw missing(feature);
  }
  // One line per feature, "ok  NAME" / "no  NAME: why" (for doctors and logs).
  std::string describe() const;
};

// Probes /dev/kvm (once per process; later calls return the same result). Throws KvmError
// (Feature::dev_kvm) when /dev/kvm is absent or not read/write for this user.
const Capabilities& probe();

// ---- the VM a VMM hands over ----------------------------------------------------------------

// A guest-RAM memslot of the VMM, as it gave it to KVM_SET_USER_MEMORY_REGION.
struct RamRegion {
  std::uint32_t slot = 0;
  std::uint64_t guest_phys = 0;
  std::uint64_t size = 0;
  void* host = nullptr;
  std::uint32_t flags = 0;  // KVM_MEM_LOG_DIRTY_PAGES is kept; KVM_MEM_READONLY regions are ROM
};

struct Vm {
  int vm_fd = -1;
  std::vector<int> vcpu_fds;  // index = the vCPU number every other call uses
  std::vector<RamRegion> ram;
};

// ---- breakpoints and watches ----------------------------------------------------------------

// How a watch is armed.
//  automatic   exec, rw, r: a debug register. write/modify: a debug register where the backend
//              reports data hits and the slots have room, else write trapping.
//  hardware    a debug register (4 per vCPU, shared by identical chunks); refused when full.
//  write_trap  write/modify only: the guest pages holding the bytes become a read-only memslot;
//              every store to them exits, is applied by the library and reported when it touches
//              watched bytes. Any length, any number; reads never trap.
//  software    exec only: int3 written into guest memory (KVM_GUESTDBG_USE_SW_BP); needs a
//              backend that exits on int3 (Feature::int3_exits).
enum class Engine : std::uint8_t { automatic, hardware, write_trap, software };
const char* to_string(Engine engine) noexcept;

struct WatchSpec {
  std::uint64_t addr = 0;  // guest virtual (linear) address
  std::uint64_t len = 1;   // exec: 1
  Access access = Access::write;
  Engine engine = Engine::automatic;
};

using WatchId = std::uint64_t;

struct WatchInfo {
  WatchId id = 0;
  WatchSpec spec;
  Engine engine = Engine::hardware;  // what it really uses
  std::vector<int> slots;            // hardware: the debug registers of its chunks, in order
  std::vector<std::uint64_t> pages;  // write_trap: the guest-physical pages it traps
};

// ---- what an exit reports -------------------------------------------------------------------

enum class EventKind : std::uint8_t {
  breakpoint,             // an execute breakpoint: pc is the breakpoint, not yet executed
  data,                   // a data watch hit: pc is the instruction after the access
  step,                   // a single-step the VMM asked for completed: pc is the next instruction
  debug_register_access,  // the guest was about to touch a debug register (DR7.GD): pc = the MOV
  mapping_changed,        // a write-trap watch's virtual address now maps elsewhere (see docs)
};
const char* to_string(EventKind kind) noexcept;

struct Event {
  EventKind kind = EventKind::data;
  unsigned vcpu = 0;
  WatchId watch = 0;  // 0 for step and debug_register_access
  Engine engine = Engine::hardware;
  Access access = Access::write;
  std::uint64_t pc = 0;    // linear address
  std::uint64_t addr = 0;  // data: the watched bytes concerned (hardware: the chunk)
  std::uint32_t len = 0;
  std::uint64_t guest_phys = 0;  // data: where addr is in guest RAM (0 when unknown);
                                 // mapping_changed: the page it maps to now (0: unmapped)
  int slot = -1;                 // hardware: the debug register
  std::uint64_t dr6 = 0;         // debug exits: the exit's raw DR6
  // data with values: the len bytes before and after the access (for write and modify watches
  // exact; for hardware hits, as read at the exit).
  bool has_values = false;
  // The values are this access's own (issue 17). False for a hardware hit in a guest with more
  // than one vCPU: its bytes are read at the exit, and another vCPU, running meanwhile, may have
  // stored to them since (or before the shadow this hit's old bytes come from was taken). Such
  // values are shown marked, and the modify / read filter passes the hit (never a drop on a
  // guess). Write trapping completes each store itself: always exact.
  bool values_exact = true;
  std::array<std::uint8_t, 8> old_bytes{};
  std::array<std::uint8_t, 8> new_bytes{};
};

struct ExitResult {
  bool consumed = false;          // the exit was the library's: run the vCPU again
  bool interrupted = false;       // run(): KVM_RUN returned EINTR (a signal kicked the vCPU)
  std::span<const Event> events;  // valid until the next call for this vCPU
};

// ---- the debugger ----------------------------------------------------------------------------

class GuestDebugger {
 public:
  // Attaches: checks the fds (open, a KVM VM and KVM vCPUs), the regions, and the capabilities
  // it always needs (guest debug, sync registers). Throws hwbp::Error / KvmError.
  explicit GuestDebugger(const Vm& vm);
  // Detaches (guest debug off on every vCPU, memslots as the VMM made them); never throws.
  ~GuestDebugger();
  GuestDebugger(const GuestDebugger&) = delete;
  GuestDebugger& operator=(const GuestDebugger&) = delete;

  // Arms a set, all or nothing: either every watch is armed on every vCPU or nothing changed.
  WatchId add(const WatchSpec& spec);
  std::vector<WatchId> add(std::span<const WatchSpec> specs);
  // The same, with the ids written into `ids` (one per spec): allocates nothing once the
  // debugger has held as many watches before (neither does add(spec) nor remove()), for VMMs
  // that arm and disarm sets on a hot path.
  void add(std::span<const WatchSpec> specs, std::span<WatchId> ids);
  void remove(WatchId id);
  void remove(std::span<const WatchId> ids);

  // Single-steps vCPU `vcpu` (a step event after each instruction). With block_irq (default:
  // on when the kernel lists KVM_GUESTDBG_BLOCKIRQ) no interrupt is injected during steps.
  void single_step(unsigned vcpu, bool on);
  void block_irq_while_stepping(bool on);
  // DR7.GD: an event before each guest MOV to or from a debug register (VMX hosts only).
  void detect_debug_register_access(bool on);
  // Re-reads the set of write-trap watches' translations and moves those whose virtual address
  // maps elsewhere now (the guest changed its page tables). Returns the watches it moved.
  std::vector<WatchId> rebind();

  // The run loop's two calls. prepare_run applies what the vCPU needs before KVM_RUN (the full
  // debug state, a step over the breakpoint it stopped at, a re-injected exception);
  // handle_exit decodes the exit KVM_RUN left in kvm_run.
  void prepare_run(unsigned vcpu);
  ExitResult handle_exit(unsigned vcpu);
  // prepare_run + KVM_RUN + handle_exit, again while exits are consumed without events.
  ExitResult run(unsigned vcpu);

  // Guest debug off on every vCPU, memslots restored, watches gone; the guest's own debug
  // registers work again. Idempotent.
  void detach();

  // ---- introspection and helpers ----
  const Capabilities& capabilities() const noexcept;
  std::vector<WatchInfo> watches() const;
  std::size_t vcpu_count() const noexcept;
  // The kvm_guest_debug last applied to a vCPU.
  kvm_guest_debug applied_state(unsigned vcpu) const;
  // Guest virtual -> guest physical, as vCPU `vcpu` sees it now. Throws when unmapped.
  std::uint64_t translate(unsigned vcpu, std::uint64_t gva) const;
  void read_guest(unsigned vcpu, std::uint64_t gva, std::span<std::uint8_t> out) const;
  void write_guest(unsigned vcpu, std::uint64_t gva, std::span<const std::uint8_t> bytes);
  kvm_regs registers(unsigned vcpu) const;
  // Sets registers; a vCPU stopped at a breakpoint and moved elsewhere is no longer stepped over.
  void set_registers(unsigned vcpu, const kvm_regs& regs);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hwbp::kvm
