// GuestDebugger: attaching, the watch set (all or nothing over every vCPU), detaching.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "core/engine_choice.hpp"
#include "core/request.hpp"
#include "core/slot_fit.hpp"
#include "kvm/debugger_state.hpp"

namespace hwbp::kvm {

namespace {

std::string hex(std::uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

// A watch's chunks as debug-register slot keys and their plan in the slot table (core::fit_slots:
// split and planned once per watch, shared by the automatic engine choice and the arming).
core::SlotFit fit_slots(const core::ArchInfo& arch, const core::WatchRequest& req, const core::SlotTable& table) {
  return core::fit_slots(arch, req, table, kDebugRegisters);
}

// Which engine serves an automatic watch: the one rule of every engine (core::choose_engine),
// with KVM's facts. Execute breakpoints hit on every backend, data watches only where the probe
// saw data hits; write trapping is the page-protection mechanism. int3 stays opt-in
// (Engine::software): an int3 written into guest memory is visible to the guest. A refusal
// falls to the debug registers, whose checks below name the missing feature or the full slots.
Engine automatic_engine(const Capabilities& caps, bool write_traps, const core::ArchInfo& arch,
                        const core::WatchRequest& req, const core::SlotTable& table,
                        core::InlineOptional<core::SlotFit>& fit) {
  const core::EngineFacts facts{.hits_delivered = req.access == Access::exec || caps.data_hits,
                                .page_engine = write_traps,
                                .uprobes = false,
                                .int3 = false};
  // Only where hits are delivered does the rule look at the slots.
  if (facts.hits_delivered) fit = fit_slots(arch, req, table);
  const bool fits = fit && fit->plan;
  const core::EngineChoice choice =
      core::choose_engine(core::EngineRequest::automatic, core::EngineWatch{req.access, fits}, facts);
  return choice.mechanism == core::Mechanism::page_protection ? Engine::write_trap : Engine::hardware;
}

std::string spec_words(const WatchSpec& s) {
  return std::string(to_string(s.access)) + " watch of " + std::to_string(s.len) +
         " bytes at guest address " + hex(s.addr);
}

constexpr std::uint64_t kEferLma = 1ull << 10;

// The watches a change appends to the set (from index `first` on, the one being built
// included: its slots count from their commit): unless the change was kept, their debug-register
// slots are released and they are dropped again on destruction. Built in place, not aside and
// moved in: a Watch is a few hundred bytes, and copies are what arming costs under an emulating
// hypervisor (the test VM's QEMU TCG).
struct Appended {
  core::SlotTable& table;
  WatchSet& watches;
  std::size_t first;
  bool kept = false;
  Appended(core::SlotTable& t, WatchSet& w) : table(t), watches(w), first(w.size()) {}
  Appended(const Appended&) = delete;
  Appended& operator=(const Appended&) = delete;
  ~Appended() {
    if (kept) return;
    try {
      for (auto it = watches.begin() + static_cast<std::ptrdiff_t>(first); it != watches.end(); ++it)
        if (it->engine == Engine::hardware) table.release(it->hw.used_slots());
    } catch (...) {  // a cleanup path: nothing better to do
    }
    watches.truncate(first);
  }
};

// The page the previous watch of a change was translated on: the watches of one change are often
// on one page (a function's breakpoints, a structure's fields) and every vCPU is stopped, so its
// tables cannot change in between.
class PageMemo {
 public:
  template <typename Walk>
  Translation translate(std::uint64_t gva, Walk&& walk) {
    const std::uint64_t page = gva & ~(kGuestPageSize - 1);
    if (!valid_ || page != page_) {
      last_ = walk(page);
      page_ = page;
      valid_ = true;
    }
    Translation t = last_;
    if (t.guest_phys) *t.guest_phys += gva - page;
    return t;
  }

 private:
  bool valid_ = false;
  std::uint64_t page_ = 0;
  Translation last_;
};

}  // namespace

// ---- attach / detach ---------------------------------------------------------------------------

GuestDebugger::GuestDebugger(const Vm& vm) : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  d.caps = probe();
  d.caps.require(Feature::api_version);
  d.caps.require(Feature::guest_debug);
  d.caps.require(Feature::sync_registers);
  std::string link;
  if (fd_kind(vm.vm_fd, &link) != FdKind::kvm_vm)
    throw Error(Errc::invalid_request,
                "VM fd " + std::to_string(vm.vm_fd) + " is " +
                    (link.empty() ? std::string("not open") : "not a KVM VM (" + link + ")") +
                    ": pass the fd KVM_CREATE_VM returned");
  if (vm.vcpu_fds.empty()) throw Error(Errc::invalid_request, "no vCPU fds: pass every vCPU the VM has");
  d.vm_fd = vm.vm_fd;
  d.ram = std::make_unique<GuestRam>(vm.ram);
  d.block_irq = d.caps.block_irq;
  if (const long tid = thread_running_guest_code())
    throw Error(Errc::invalid_state,
                "thread " + std::to_string(tid) +
                    " of this process is executing guest code (its guest time grows): stop "
                    "every vCPU before attaching");
  const int kvm = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) throw d.caps.missing(Feature::dev_kvm);
  OwnedFd kvm_fd(kvm);
  const int run_size = checked_ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, nullptr, "KVM_GET_VCPU_MMAP_SIZE");
  // Every fd checked before any vCPU is touched: a refused attach changes nothing.
  std::set<int> seen;
  for (std::size_t i = 0; i < vm.vcpu_fds.size(); ++i) {
    const int fd = vm.vcpu_fds[i];
    link.clear();
    if (fd_kind(fd, &link) != FdKind::kvm_vcpu)
      throw Error(Errc::invalid_request,
                  "vCPU fd " + std::to_string(fd) + " (vCPU " + std::to_string(i) + ") is " +
                      (link.empty() ? std::string("not open") : "not a KVM vCPU (" + link + ")") +
                      ": pass the fds KVM_CREATE_VCPU returned");
    if (!seen.insert(fd).second)
      throw Error(Errc::invalid_request, "vCPU fd " + std::to_string(fd) + " is given twice");
    // An ioctl on a vCPU inside KVM_RUN would wait for it (the vcpu mutex) — maybe for ever.
    if (vcpu_in_kvm_run(fd))
      throw Error(Errc::invalid_state,
                  "vCPU " + std::to_string(i) + " (fd " + std::to_string(fd) +
                      ") is running (a thread is inside KVM_RUN): stop it before attaching");
  }
  for (std::size_t i = 0; i < vm.vcpu_fds.size(); ++i) {
    const int fd = vm.vcpu_fds[i];
    auto v = std::make_unique<VcpuState>();
    v->fd = fd;
    void* p = ::mmap(nullptr, static_cast<std::size_t>(run_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      d.release_vcpus();
      throw ioctl_error("mmap of the vCPU's kvm_run", errno);
    }
    v->run = static_cast<kvm_run*>(p);
    v->run_size = static_cast<std::size_t>(run_size);
    // Does the vCPU take guest debugging at all? Protected guests (SEV-ES, TDX) refuse it.
    kvm_guest_debug off{};
    if (::ioctl(fd, KVM_SET_GUEST_DEBUG, &off) < 0) {
      const int err = errno;
      d.release_vcpus();
      throw KvmError(Errc::unsupported, Feature::guest_debug,
                     "vCPU " + std::to_string(i) + " refuses KVM_SET_GUEST_DEBUG (" + std::strerror(err) +
                         "): protected guests (SEV-ES, TDX) cannot be debugged",
                     err);
    }
    v->applied_valid = true;
    // Registers and control registers arrive in kvm_run at every exit: translating an address,
    // the pc of a trapped store, the rip check of a step-over cost no ioctl.
    v->valid_regs_before = v->run->kvm_valid_regs;
    v->run->kvm_valid_regs |= KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
    d.vcpus.push_back(std::move(v));
  }
  if (d.caps.readonly_memory && d.caps.trapped_stores)
    d.traps = std::make_unique<WriteTraps>(d.vm_fd, *d.ram, d.caps.memslots, std::vector<std::uint32_t>{});
}

GuestDebugger::~GuestDebugger() {
  if (!impl_) return;
  std::lock_guard lock(impl_->mutex);
  impl_->detach_locked();
}

VcpuState::~VcpuState() {
  if (run) ::munmap(run, run_size);
}

void GuestDebugger::Impl::release_vcpus() noexcept {
  for (auto& v : vcpus) v->run->kvm_valid_regs = v->valid_regs_before;
  vcpus.clear();
}

void GuestDebugger::Impl::detach_locked() noexcept {
  if (detached) return;
  kvm_guest_debug off{};
  for (auto& v : vcpus) {
    ::ioctl(v->fd, KVM_SET_GUEST_DEBUG, &off);
    v->applied = DebugRequest{};
    v->applied_raw = off;
    v->run->kvm_valid_regs = v->valid_regs_before;
    v->stop.reset();
    v->stepping_over = false;
    v->user_step = false;
  }
  for (const Watch& w : watches)
    if (w.engine == Engine::software) ram->write_physical(w.sw.gpa, &w.sw.original, 1);
  if (traps) traps->restore();
  watches.clear();
  table = core::SlotTable(core::arch_x86_guest(true), kDebugRegisters, {kDebugRegisters});
  mapping_checks.clear();
  detached = true;
}

void GuestDebugger::detach() {
  std::lock_guard lock(impl_->mutex);
  impl_->require_stopped("detach");
  impl_->detach_locked();
}

// ---- rules every change follows ----------------------------------------------------------------

void GuestDebugger::Impl::require_vcpu(unsigned vcpu) const {
  if (vcpu >= vcpus.size())
    throw Error(Errc::invalid_request, "vCPU " + std::to_string(vcpu) + " does not exist (the debugger has " +
                                           std::to_string(vcpus.size()) + ")");
}

void GuestDebugger::Impl::require_stopped(const char* what) const {
  for (std::size_t i = 0; i < vcpus.size(); ++i)
    if (vcpus[i]->running)
      throw Error(Errc::invalid_state,
                  std::string("cannot ") + what + ": vCPU " + std::to_string(i) +
                      " is running (between prepare_run and handle_exit); stop every vCPU first "
                      "(kvm_run.immediate_exit and a signal)");
}

DebugRequest GuestDebugger::Impl::base_request(const core::SlotTable& t) const {
  DebugRequest r;
  for (unsigned n = 0; n < kDebugRegisters; ++n)
    if (t.in_use(static_cast<int>(n))) r.slots[n] = t.key(static_cast<int>(n)).chunk;
  r.general_detect = general_detect;
  r.block_irq = block_irq;
  for (const Watch& w : watches) r.software_breakpoints |= w.engine == Engine::software && !w.leaving;
  return r;
}

DebugRequest GuestDebugger::Impl::request_for(const VcpuState& v, const DebugRequest& base) const {
  DebugRequest r = base;
  r.single_step = v.user_step;
  if (v.stepping_over && v.stop) {
    // One instruction with what stopped the vCPU switched off: the breakpoints reported at this
    // pc (others added since still fire), DR7.GD. RF cannot do it: KVM's emulator ignores RF
    // for debugger breakpoints (kvm_is_code_breakpoint_inhibited), and so does the test VM.
    for (unsigned n = 0; n < kDebugRegisters; ++n)
      if (((v.stop->exec_slots >> n) & 1) && r.slots[n] && r.slots[n]->type == core::HwType::exec &&
          r.slots[n]->addr == v.stop->pc)
        r.suppressed |= static_cast<std::uint8_t>(1u << n);
    if (v.stop->general_detect) r.general_detect = false;
    r.single_step = true;
  }
  return r;
}

kvm_guest_debug GuestDebugger::Impl::set_guest_debug(const VcpuState& v, const DebugRequest& request) const {
  const kvm_guest_debug dbg = compose(request);
  if (const std::uint32_t bits = unlisted_control_bits(dbg.control, caps.guest_debug_mask))
    throw KvmError(Errc::unsupported,
                   (bits & KVM_GUESTDBG_BLOCKIRQ) ? Feature::block_irq : Feature::guest_debug,
                   "control bits " + hex(bits) + " are not in this kernel's SET_GUEST_DEBUG2 mask " +
                       hex(caps.guest_debug_mask) + ": KVM would accept them unchecked; leave them out");
  if (::ioctl(v.fd, KVM_SET_GUEST_DEBUG, &dbg) < 0) throw ioctl_error("KVM_SET_GUEST_DEBUG", errno);
  return dbg;
}

void GuestDebugger::Impl::record_applied(VcpuState& v, const DebugRequest& request, const kvm_guest_debug& dbg) {
  v.applied = request;
  v.applied.inject_db = v.applied.inject_bp = false;
  v.applied_raw = dbg;
  v.applied_valid = true;
}

void GuestDebugger::Impl::apply(VcpuState& v, const DebugRequest& request) {
  record_applied(v, request, set_guest_debug(v, request));
}

void GuestDebugger::Impl::apply_all(const core::SlotTable& t) {
  const DebugRequest base = base_request(t);
  // KVM first, the records after: until every vCPU has taken the new state, each vCPU's
  // `applied` still holds what it had, the rollback's source (no copy aside: arming is a hot path).
  std::size_t done = 0;
  try {
    for (; done < vcpus.size(); ++done) vcpus[done]->sent = set_guest_debug(*vcpus[done], request_for(*vcpus[done], base));
  } catch (...) {
    // All or nothing: the vCPUs already changed go back to what they had.
    for (std::size_t i = 0; i < done; ++i) {
      try {
        set_guest_debug(*vcpus[i], vcpus[i]->applied);
      } catch (...) {
      }
    }
    throw;
  }
  // Composed once per vCPU (above): compose() is cheap natively, but not under an emulating
  // hypervisor such as the test VM's QEMU TCG, where arming is measured.
  for (auto& v : vcpus) record_applied(*v, request_for(*v, base), v->sent);
}

// ---- the watch set -----------------------------------------------------------------------------

WalkFailure GuestDebugger::Impl::translate_range(const VcpuState& v, std::uint64_t addr, std::uint64_t len,
                                                 std::vector<TrapPiece>* pieces,
                                                 std::uint64_t* failed_at) const {
  for (std::uint64_t a = addr; a - addr < len;) {
    const std::uint64_t n = std::min<std::uint64_t>(((a | (kGuestPageSize - 1)) + 1) - a, len - (a - addr));
    const Translation t = walk(v, a);
    if (!t.guest_phys) {
      *failed_at = a;
      return t.failure;
    }
    if (pieces) {
      if (!pieces->empty() && pieces->back().gpa + pieces->back().len == *t.guest_phys)
        pieces->back().len += n;
      else
        pieces->push_back({a, *t.guest_phys, n});
    }
    a += n;
  }
  return WalkFailure::none;
}

WatchId GuestDebugger::add(const WatchSpec& spec) {
  WatchId id = 0;
  add(std::span<const WatchSpec>(&spec, 1), std::span<WatchId>(&id, 1));
  return id;
}

std::vector<WatchId> GuestDebugger::add(std::span<const WatchSpec> specs) {
  std::vector<WatchId> ids(specs.size());
  add(specs, ids);
  return ids;
}

void GuestDebugger::add(std::span<const WatchSpec> specs, std::span<WatchId> ids) {
  if (ids.size() != specs.size())
    throw Error(Errc::invalid_request, "room for " + std::to_string(ids.size()) + " id(s) given for " +
                                           std::to_string(specs.size()) +
                                           " watch(es): pass a span of one id per watch");
  std::lock_guard lock(impl_->mutex);
  impl_->add_locked(specs, ids);
}

void GuestDebugger::Impl::add_locked(std::span<const WatchSpec> specs, std::span<WatchId> ids) {
  Impl& d = *this;
  if (d.detached) throw Error(Errc::invalid_state, "the debugger is detached: create a new GuestDebugger");
  d.require_stopped("change the watch set");
  VcpuState& ref = *d.vcpus.front();  // addresses are translated as vCPU 0 sees them
  const PagingState paging = d.paging(ref);
  const core::ArchInfo arch = core::arch_x86_guest(paging.efer & kEferLma);
  // Messages are built only for a refusal: arming is a hot path for debuggers and benchmarks.
  auto refuse = [&](Errc code, std::size_t i, const std::string& why) {
    return Error(code, "watch " + std::to_string(i + 1) + " of " + std::to_string(specs.size()) + " (" +
                           spec_words(specs[i]) + "): " + why);
  };

  // Slots are taken in the debugger's table itself, watch by watch (each plan sees the slots the
  // previous watches took), and given back unless the whole change succeeds: commit and release
  // are exact inverses (reference counts), so the table, slot indexes included, is as before.
  // (Working on a copy of the table allocated on every call: arming is a hot path.)
  core::SlotTable& table = d.table;
  d.watches.reserve(d.watches.size() + specs.size());  // no reallocation while watches are built
  Appended fresh{table, d.watches};
  PageMemo memo;
  std::vector<TrapRequest>& traps = d.scratch.traps;
  traps.clear();
  bool software = false;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const WatchSpec& s = specs[i];
    const core::WatchRequest req{static_cast<std::uintptr_t>(s.addr), static_cast<std::size_t>(s.len),
                                 s.access};
    if (auto v = core::validate_guest_range(arch, req)) throw refuse(Errc::invalid_request, i, v->message);
    const bool data = s.access != Access::exec;
    const bool stores_only = s.access == Access::write || s.access == Access::modify;
    Engine engine = s.engine;
    core::InlineOptional<core::SlotFit> fit;  // planned by the automatic choice, reused by the arming
    switch (s.engine) {
      case Engine::software:
        if (data)
          throw refuse(Errc::invalid_request, i, "a software breakpoint is an execute breakpoint (access x)");
        d.caps.require(Feature::int3_exits);
        break;
      case Engine::write_trap:
        if (!stores_only)
          throw refuse(
              Errc::invalid_request, i,
              std::string("write trapping sees stores only (access w or modify); use a hardware watch for ") +
                  to_string(s.access));
        if (!d.traps)
          throw d.caps.missing(d.caps.readonly_memory ? Feature::trapped_stores : Feature::readonly_memory);
        break;
      case Engine::hardware:
        if (data && !d.caps.data_hits) throw d.caps.missing(Feature::data_hits);
        break;
      case Engine::automatic:
        engine = automatic_engine(d.caps, d.traps != nullptr, arch, req, table, fit);
        if (engine == Engine::hardware && data && !d.caps.data_hits) throw d.caps.missing(Feature::data_hits);
        break;
    }
    // Every byte must be mapped by the guest now: a breakpoint on an address the guest has not
    // mapped is almost always a wrong address (for code the guest maps later, arm it later).
    // Hardware watches check it chunk by chunk below (a chunk never crosses a page).
    // Ids only grow: the new watch goes at the end of the set.
    Watch& w = d.watches.emplace_back();
    w.id = d.next_id + i;
    w.spec = s;
    w.engine = engine;
    std::vector<TrapPiece> pieces;
    auto unusable = [&](std::uint64_t at, WalkFailure why) {
      return refuse(Errc::invalid_request, i,
                    "guest address " + hex(at) + " is not usable: " + to_string(why));
    };
    if (engine != Engine::hardware) {
      std::uint64_t failed_at = 0;
      const WalkFailure failure = d.translate_range(ref, s.addr, s.len, &pieces, &failed_at);
      if (failure != WalkFailure::none) throw unusable(failed_at, failure);
    }
    if (engine == Engine::hardware) {
      if (!fit) fit = fit_slots(arch, req, table);
      const std::size_t needed = fit->needed;
      const std::size_t free = kDebugRegisters - table.used();
      if (!fit->plan)
        throw refuse(
            Errc::no_slots, i,
            "needs " + std::to_string(needed) + " debug register(s) and " + std::to_string(free) +
                " of the " + std::to_string(kDebugRegisters) + " are free" +
                (stores_only ? "; write trapping has no such limit: use Engine::write_trap (or automatic)"
                             : "; remove a breakpoint or watch first"));
      table.commit(*fit->plan, fit->key_span());
      const std::size_t count = fit->keys.size();
      for (std::size_t k = 0; k < count; ++k) w.hw.slots[k] = fit->plan->slot_of_key[k];
      w.hw.count = static_cast<std::uint8_t>(count);  // from here on released by `fresh`
      bool read_ok = data;
      for (std::size_t k = 0; k < count; ++k) {
        const core::Chunk& c = fit->keys[k].chunk;
        const Translation t = memo.translate(c.addr, [&](std::uint64_t page) { return d.walk(ref, page); });
        if (!t.guest_phys) throw unusable(c.addr, t.failure);
        w.hw.chunks[k] = c;
        const std::uint8_t* bytes = d.ram->host(*t.guest_phys, c.len);
        w.hw.chunk_gpa[k] = bytes ? *t.guest_phys : 0;
        // The shadow: the watched bytes now, the old value of the first hit.
        if (data && bytes)
          std::memcpy(w.hw.shadow.data() + (c.addr - s.addr), bytes, c.len);
        else
          read_ok = false;
      }
      // The core's confirmation rule: no store can race this read, since every vCPU is stopped
      // (require_stopped above) and only guest stores reach a debug register.
      w.hw.shadow_state =
          core::shadow_state(core::ShadowEvidence{.read_ok = read_ok, .race_possible = false});
    } else if (engine == Engine::write_trap) {
      for (const TrapPiece& p : pieces) {
        const RamRegion* r = d.ram->region_of(p.gpa, p.len);
        if (!r)
          throw refuse(
              Errc::invalid_request, i,
              "guest-physical " + hex(p.gpa) +
                  " is not in the guest RAM the debugger was given (MMIO or another memslot?); write "
                  "trapping works on guest RAM");
        if (r->flags & KVM_MEM_READONLY)
          throw refuse(
              Errc::invalid_request, i,
              "guest-physical " + hex(p.gpa) + " is read-only memory (ROM): the guest cannot store there");
      }
      w.trap.cr3 = paging.cr3;
      traps.push_back(TrapRequest{w.id, s.access, pieces});
      w.trap.pieces = std::move(pieces);
    } else {  // software
      w.sw.gpa = pieces.front().gpa;
      if (!d.ram->host(w.sw.gpa, 1))
        throw refuse(Errc::invalid_request, i, "the instruction is not in guest RAM the debugger was given");
      software = true;
    }
  }

  // Apply: memslots first (they roll themselves back), then the debug registers of every vCPU.
  if (!traps.empty()) d.traps->arm(traps);
  try {
    d.apply_all(table);
  } catch (...) {
    // `fresh` releases the slots and drops the watches.
    if (!traps.empty()) {
      std::vector<WatchId> ids;
      for (const TrapRequest& t : traps) ids.push_back(t.id);
      try {
        d.traps->disarm(ids);
      } catch (...) {
      }
    }
    throw;
  }
  fresh.kept = true;
  const bool trapped = !traps.empty();
  traps.clear();
  for (std::size_t i = 0; i < specs.size(); ++i) ids[i] = d.next_id + i;
  if (software) {
    for (WatchId id : ids) {
      Watch& w = d.watches.at(id);
      if (w.engine != Engine::software) continue;
      d.ram->read_physical(w.sw.gpa, &w.sw.original, 1);
      const std::uint8_t int3 = 0xcc;
      d.ram->write_physical(w.sw.gpa, &int3, 1);
    }
  }
  d.next_id += specs.size();
  if (trapped) d.rebuild_mapping_checks();
}

void GuestDebugger::remove(WatchId id) { remove(std::span<const WatchId>(&id, 1)); }

void GuestDebugger::remove(std::span<const WatchId> ids) {
  std::lock_guard lock(impl_->mutex);
  impl_->remove_locked(ids);
}

void GuestDebugger::Impl::remove_locked(std::span<const WatchId> ids) {
  Impl& d = *this;
  if (d.detached) throw Error(Errc::invalid_state, "the debugger is detached");
  d.require_stopped("change the watch set");
  for (WatchId id : ids)
    if (!d.watches.contains(id))
      throw Error(Errc::invalid_request,
                  "no watch " + std::to_string(id) + " (already removed, or never added)");
  // The change is planned on a copy of the slot table (inline: the copy allocates nothing); the
  // watches going stay in the set, marked, until the change has been applied (the rollback just
  // clears the marks), and are dropped in one pass at the end.
  core::SlotTable table = d.table;
  std::vector<WatchId>& trap_ids = d.scratch.ids;
  trap_ids.clear();
  for (WatchId id : ids) {
    Watch* w = d.watches.find(id);
    if (!w || w->leaving) continue;  // listed twice
    if (w->engine == Engine::hardware) table.release(w->hw.used_slots());
    if (w->engine == Engine::write_trap) trap_ids.push_back(id);
    w->leaving = true;
  }
  auto put_back = [&] {
    for (Watch& w : d.watches) w.leaving = false;
  };
  try {
    d.apply_all(table);
  } catch (...) {
    put_back();
    throw;
  }
  if (!trap_ids.empty()) {
    try {
      d.traps->disarm(trap_ids);
    } catch (...) {
      put_back();
      try {
        d.apply_all(d.table);
      } catch (...) {
      }
      throw;
    }
  }
  for (const Watch& w : d.watches)
    if (w.leaving && w.engine == Engine::software) d.ram->write_physical(w.sw.gpa, &w.sw.original, 1);
  d.watches.erase_if([](const Watch& w) { return w.leaving; });
  d.table = table;
  const bool trapped = !trap_ids.empty();
  trap_ids.clear();
  if (trapped) d.rebuild_mapping_checks();
}

void GuestDebugger::single_step(unsigned vcpu, bool on) {
  Impl& d = *impl_;
  std::lock_guard lock(d.mutex);
  d.require_vcpu(vcpu);
  d.require_stopped("change single-stepping");
  d.vcpus[vcpu]->user_step = on;
  d.apply(*d.vcpus[vcpu], d.request_for(*d.vcpus[vcpu], d.base_request(d.table)));
}

void GuestDebugger::block_irq_while_stepping(bool on) {
  Impl& d = *impl_;
  std::lock_guard lock(d.mutex);
  if (on) d.caps.require(Feature::block_irq);
  d.require_stopped("change BLOCKIRQ");
  const bool before = d.block_irq;
  d.block_irq = on;
  try {
    d.apply_all(d.table);
  } catch (...) {
    d.block_irq = before;
    throw;
  }
}

void GuestDebugger::detect_debug_register_access(bool on) {
  Impl& d = *impl_;
  std::lock_guard lock(d.mutex);
  if (on) d.caps.require(Feature::general_detect_exits);
  d.require_stopped("change DR7.GD");
  const bool before = d.general_detect;
  d.general_detect = on;
  try {
    d.apply_all(d.table);
  } catch (...) {
    d.general_detect = before;
    throw;
  }
}

std::vector<WatchId> GuestDebugger::rebind() {
  Impl& d = *impl_;
  std::lock_guard lock(d.mutex);
  d.require_stopped("rebind write-trap watches");
  std::vector<WatchId> moved;
  VcpuState& ref = *d.vcpus.front();
  for (Watch& w : d.watches) {
    if (w.engine != Engine::write_trap) continue;
    const WatchId id = w.id;
    std::vector<TrapPiece> pieces;
    std::uint64_t failed_at = 0;
    // Unmapped now, or mapped outside guest RAM: the watch stays on its old pages (reported by
    // the mapping_changed event) until the guest maps it again.
    if (d.translate_range(ref, w.spec.addr, w.spec.len, &pieces, &failed_at) != WalkFailure::none) continue;
    bool in_ram = true;
    for (const TrapPiece& p : pieces) in_ram = in_ram && d.ram->host(p.gpa, p.len);
    if (!in_ram) continue;
    bool same = pieces.size() == w.trap.pieces.size();
    for (std::size_t i = 0; same && i < pieces.size(); ++i)
      same = pieces[i].gpa == w.trap.pieces[i].gpa && pieces[i].len == w.trap.pieces[i].len;
    if (same) {
      w.trap.move_reported = false;
      continue;
    }
    const WatchId ids[] = {id};
    d.traps->disarm(ids);
    const TrapRequest req{id, w.spec.access, pieces};
    d.traps->arm(std::span<const TrapRequest>(&req, 1));
    w.trap.pieces = std::move(pieces);
    w.trap.cr3 = d.paging(ref).cr3;
    w.trap.move_reported = false;
    moved.push_back(id);
  }
  d.rebuild_mapping_checks();
  return moved;
}

const char* to_string(Engine engine) noexcept {
  switch (engine) {
    case Engine::automatic:
      return "automatic";
    case Engine::hardware:
      return "hardware";
    case Engine::write_trap:
      return "write-trap";
    case Engine::software:
      return "software";
  }
  return "?";
}

const char* to_string(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::breakpoint:
      return "breakpoint";
    case EventKind::data:
      return "data";
    case EventKind::step:
      return "step";
    case EventKind::debug_register_access:
      return "debug-register access";
    case EventKind::mapping_changed:
      return "mapping changed";
  }
  return "?";
}

// ---- introspection -----------------------------------------------------------------------------

const Capabilities& GuestDebugger::capabilities() const noexcept { return impl_->caps; }
std::size_t GuestDebugger::vcpu_count() const noexcept { return impl_->vcpus.size(); }

std::vector<WatchInfo> GuestDebugger::watches() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<WatchInfo> out;
  for (const Watch& w : impl_->watches) {
    const WatchId id = w.id;
    WatchInfo info{id, w.spec, w.engine, {w.hw.slots.begin(), w.hw.slots.begin() + w.hw.count}, {}};
    if (w.engine == Engine::write_trap) info.pages = impl_->traps->pages_of(id);
    if (w.engine == Engine::software) info.pages = {w.sw.gpa & ~(kGuestPageSize - 1)};
    out.push_back(std::move(info));
  }
  return out;
}

kvm_guest_debug GuestDebugger::applied_state(unsigned vcpu) const {
  std::lock_guard lock(impl_->mutex);
  impl_->require_vcpu(vcpu);
  return impl_->vcpus[vcpu]->applied_raw;
}

}  // namespace hwbp::kvm
