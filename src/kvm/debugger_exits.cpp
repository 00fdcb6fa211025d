// GuestDebugger: the run loop's calls — what a vCPU needs before KVM_RUN and what its exit means.
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <span>

#include "core/value_filter.hpp"
#include "kvm/debugger_state.hpp"
#include "kvm/exit_decoder.hpp"

namespace hwbp::kvm {

namespace {

constexpr std::uint64_t kSyncedRegs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
constexpr std::uint8_t kInt3 = 0xcc;

// Does a hardware data hit reach its watch? x86 has neither a modify nor a read debug register:
// both filter write / read-write hits by comparing the bytes, by the one value filter of every
// engine (core/value_filter.hpp). Unknown old bytes pass: a hit is never dropped on a guess.
bool passes_value_filter(const Event& e) {
  if (!e.values_exact) return true;  // another vCPU may have stored meanwhile: not a verdict to drop on
  const std::span<const std::uint8_t> new_bytes(e.new_bytes.data(), e.len);
  std::optional<std::span<const std::uint8_t>> old_bytes;
  if (e.has_values) old_bytes.emplace(e.old_bytes.data(), e.len);
  return core::passes_value_filter(e.access, core::compare_values(old_bytes, new_bytes));
}

}  // namespace

// ---- before KVM_RUN ----------------------------------------------------------------------------

void GuestDebugger::Impl::end_step_over(VcpuState& v) {
  if (v.software_lifted && v.stop) {
    if (const Watch* w = watches.find(v.stop->software)) ram->write_physical(w->sw.gpa, &kInt3, 1);
  }
  v.software_lifted = false;
  v.stepping_over = false;
  v.stop.reset();
}

void GuestDebugger::prepare_run(unsigned vcpu) {
  Impl& d = *impl_;
  std::lock_guard lock(d.mutex);
  d.require_vcpu(vcpu);
  VcpuState& v = *d.vcpus[vcpu];
  v.running = true;
  if (d.detached) return;
  v.run->kvm_valid_regs |= kSyncedRegs;
  if (v.stop) {
    const std::uint64_t rip = v.synced ? d.linear_rip(v) : v.stop->pc;
    if (rip != v.stop->pc) {
      // Moved on: the VMM set another rip, or the step completed without its debug exit (a
      // backend that loses the step after an `out` that exits: kvm-guest-debug.md 11.1).
      d.end_step_over(v);
    } else if (!v.stepping_over) {
      v.stepping_over = true;
      if (v.stop->software) {
        if (const Watch* w = d.watches.find(v.stop->software)) {
          d.ram->write_physical(w->sw.gpa, &w->sw.original, 1);
          v.software_lifted = true;
        }
      }
    }
  }
  const DebugRequest base = d.base_request(d.table);
  DebugRequest req = d.request_for(v, base);
  if (v.stepping_over && req.suppressed == 0 && !v.stop->general_detect && !v.software_lifted) {
    // What stopped the vCPU is gone (removed, or another breakpoint took its slot): run on.
    d.end_step_over(v);
    req = d.request_for(v, base);
  }
  if (v.inject == VcpuState::Inject::debug) {
    // The guest's handler reads DR6 for the cause (BS for its own TF step). KVM reports the
    // guest's DR6 through KVM_GET/SET_DEBUGREGS, and a #DB injected with INJECT_DB carries no
    // payload (without KVM_CAP_EXCEPTION_PAYLOAD, which is the VMM's to enable): set DR6 first,
    // as QEMU does (target/i386/kvm/kvm.c).
    if (d.caps.debug_registers) {
      kvm_debugregs regs{};
      if (::ioctl(v.fd, KVM_GET_DEBUGREGS, &regs) == 0) {
        regs.dr6 = v.inject_dr6;
        regs.flags = 0;
        ::ioctl(v.fd, KVM_SET_DEBUGREGS, &regs);
      }
    }
    req.inject_db = true;
  } else if (v.inject == VcpuState::Inject::breakpoint) {
    req.inject_bp = true;
  }
  // SINGLESTEP arms only at the rip KVM saw at KVM_SET_GUEST_DEBUG time (singlestep_rip), so a
  // stepping vCPU gets its state again before every run.
  const bool needed =
      !v.applied_valid || !(req == v.applied) || req.single_step || req.inject_db || req.inject_bp;
  if (!needed) return;
  try {
    d.apply(v, req);
    v.inject = VcpuState::Inject::none;
  } catch (const Error& e) {
    if (e.sys_errno() != EBUSY || (!req.inject_db && !req.inject_bp)) {
      v.running = false;
      throw;
    }
    // An exception is already pending for the guest: it is delivered first; inject next time.
    req.inject_db = req.inject_bp = false;
    d.apply(v, req);
  }
}

// ---- after KVM_RUN -----------------------------------------------------------------------------

ExitResult GuestDebugger::handle_exit(unsigned vcpu) {
  Impl& d = *impl_;
  std::lock_guard lock(d.mutex);
  d.require_vcpu(vcpu);
  VcpuState& v = *d.vcpus[vcpu];
  v.events.clear();
  v.running = false;
  ExitResult result;
  if (d.detached) return result;
  v.synced = (v.run->kvm_valid_regs & kSyncedRegs) == kSyncedRegs;
  switch (v.run->exit_reason) {
    case KVM_EXIT_DEBUG:
      d.decode_debug(vcpu, v);
      result.consumed = true;  // every #DB/#BP exit is the debugger's, the guest's own are given back
      break;
    case KVM_EXIT_MMIO:
      result.consumed = d.decode_mmio(vcpu, v);
      break;
    default:
      break;
  }
  if (!d.mapping_checks.empty() && v.synced) d.check_mappings(vcpu, v);
  result.events = v.events;
  return result;
}

ExitResult GuestDebugger::run(unsigned vcpu) {
  for (;;) {
    prepare_run(vcpu);
    if (::ioctl(impl_->vcpus[vcpu]->fd, KVM_RUN, nullptr) < 0) {
      const int err = errno;
      ExitResult r = handle_exit(vcpu);
      if (err == EINTR) {
        r.interrupted = true;
        return r;
      }
      throw ioctl_error("KVM_RUN", err);
    }
    ExitResult r = handle_exit(vcpu);
    if (!r.consumed || !r.events.empty()) return r;
  }
}

// ---- decoding ----------------------------------------------------------------------------------

void GuestDebugger::Impl::decode_debug(unsigned index, VcpuState& v) {
  const kvm_debug_exit_arch& a = v.run->debug.arch;
  WatchId software = 0;
  if (a.exception == kBreakpointVector)
    for (const Watch& w : watches)
      if (w.engine == Engine::software && w.spec.addr == a.pc) software = w.id;
  const DecodedDebugExit dx = decode_debug_exit(v.applied, a.exception, a.dr6, software != 0);

  auto base_event = [&](EventKind kind) {
    Event e;
    e.kind = kind;
    e.vcpu = index;
    e.pc = a.pc;
    e.dr6 = a.exception == kDebugVector ? a.dr6 : 0;
    return e;
  };
  if (dx.step) {
    const bool was_step_over = v.stepping_over;
    if (was_step_over) end_step_over(v);
    if (v.user_step) v.events.push_back(base_event(EventKind::step));
  }
  std::uint8_t stop_slots = 0;
  for (unsigned n = 0; n < kDebugRegisters; ++n) {
    const bool exec = (dx.exec_hits >> n) & 1, data = (dx.data_hits >> n) & 1;
    if (!exec && !data) continue;
    // Identical chunks share a slot: one slot hit is a hit of every watch holding that chunk.
    for (Watch& w : watches) {
      if (w.engine != Engine::hardware) continue;
      for (std::size_t k = 0; k < w.hw.count; ++k) {
        if (w.hw.slots[k] != static_cast<int>(n)) continue;
        if (exec) {
          Event e = base_event(EventKind::breakpoint);
          e.watch = w.id;
          e.access = Access::exec;
          e.addr = w.hw.chunks[k].addr;
          e.len = 1;
          e.slot = static_cast<int>(n);
          e.guest_phys = w.hw.chunk_gpa[k];
          v.events.push_back(e);
          stop_slots |= static_cast<std::uint8_t>(1u << n);
        } else {
          report_data_hit(index, v, w, k);
        }
      }
    }
  }
  if (stop_slots || dx.general_detect || dx.software_breakpoint) {
    v.stop = Stop{a.pc, stop_slots, dx.general_detect, dx.software_breakpoint ? software : 0};
    v.stepping_over = false;
    v.software_lifted = false;
  }
  if (dx.general_detect) v.events.push_back(base_event(EventKind::debug_register_access));
  if (dx.software_breakpoint) {
    Event e = base_event(EventKind::breakpoint);
    e.watch = software;
    e.engine = Engine::software;
    e.access = Access::exec;
    e.addr = a.pc;
    e.len = 1;
    e.guest_phys = watches.at(software).sw.gpa;
    v.events.push_back(e);
  }
  if (dx.reinject == DecodedDebugExit::Reinject::debug) {
    v.inject = VcpuState::Inject::debug;
    v.inject_dr6 = dx.guest_dr6;
  } else if (dx.reinject == DecodedDebugExit::Reinject::breakpoint) {
    v.inject = VcpuState::Inject::breakpoint;
  }
}

void GuestDebugger::Impl::report_data_hit(unsigned index, VcpuState& v, Watch& w, std::size_t k) {
  const core::Chunk& c = w.hw.chunks[k];
  Event e;
  e.kind = EventKind::data;
  e.vcpu = index;
  e.watch = w.id;
  e.engine = Engine::hardware;
  e.access = w.spec.access;
  e.pc = v.run->debug.arch.pc;
  e.addr = c.addr;
  e.len = c.len;
  e.slot = w.hw.slots[k];
  e.dr6 = v.run->debug.arch.dr6;
  // The hardware says an access happened, never the bytes: the new ones are read now, the old
  // ones are the shadow the last hit (or the arming) left.
  const Translation t = walk(v, c.addr);
  e.guest_phys = t.guest_phys.value_or(0);
  const bool read_new = t.guest_phys && ram->read_physical(*t.guest_phys, e.new_bytes.data(), c.len);
  const std::size_t offset = c.addr - w.spec.addr;
  const bool known = read_new && w.hw.shadow_confirmed();
  if (known) std::memcpy(e.old_bytes.data(), w.hw.shadow.data() + offset, c.len);
  e.has_values = known;
  // The exit stops this vCPU only: another one may store to the bytes between this store and
  // the read above (issue 17; the processes' deliveries order such stores, not yet this one).
  e.values_exact = vcpus.size() <= 1;
  if (read_new && w.hw.shadow_confirmed())
    std::memcpy(w.hw.shadow.data() + offset, e.new_bytes.data(), c.len);
  if (passes_value_filter(e)) v.events.push_back(e);
}

bool GuestDebugger::Impl::decode_mmio(unsigned index, VcpuState& v) {
  const auto& m = v.run->mmio;
  if (!m.is_write || !traps || !traps->traps(m.phys_addr)) return false;
  // KVM completes an MMIO store's instruction before exiting (x86_emulate_instruction writes
  // rip back for writes), so rip is already the next instruction — the same pc a data
  // breakpoint, a trap, reports.
  const std::uint64_t pc = v.synced ? linear_rip(v) : 0;
  const auto store =
      traps->complete_store(m.phys_addr, m.len, m.data,
                            [&](WatchId id, Access access, std::uint64_t gva, std::uint64_t gpa, unsigned len,
                                const std::uint8_t* old_bytes, const std::uint8_t* new_bytes) {
                              Event e;
                              e.kind = EventKind::data;
                              e.vcpu = index;
                              e.watch = id;
                              e.engine = Engine::write_trap;
                              e.access = access;
                              e.pc = pc;
                              e.addr = gva;
                              e.len = len;
                              e.guest_phys = gpa;
                              e.has_values = true;
                              std::memcpy(e.old_bytes.data(), old_bytes, len);
                              std::memcpy(e.new_bytes.data(), new_bytes, len);
                              v.events.push_back(e);
                            });
  if (!store) return false;
  // A hardware data watch on a trapped page never sees this store: KVM emulated it, and its
  // emulator checks no data breakpoints. The store itself says exactly what changed.
  const std::uint64_t s_begin = store->gpa, s_end = store->gpa + store->len;
  for (Watch& w : watches) {
    if (w.engine != Engine::hardware || w.spec.access == Access::exec) continue;
    for (std::size_t k = 0; k < w.hw.count; ++k) {
      const std::uint64_t g = w.hw.chunk_gpa[k];
      const core::Chunk& c = w.hw.chunks[k];
      if (!g || g >= s_end || g + c.len <= s_begin) continue;
      Event e;
      e.kind = EventKind::data;
      e.vcpu = index;
      e.watch = w.id;
      e.engine = Engine::hardware;
      e.access = w.spec.access;
      e.pc = pc;
      e.addr = c.addr;
      e.len = c.len;
      e.slot = w.hw.slots[k];
      e.guest_phys = g;
      ram->read_physical(g, e.new_bytes.data(), c.len);
      e.old_bytes = e.new_bytes;
      for (std::uint64_t b = std::max(g, s_begin); b < std::min(g + c.len, s_end); ++b)
        e.old_bytes[b - g] = store->old_bytes[b - s_begin];
      e.has_values = true;
      if (w.hw.shadow_confirmed())
        std::memcpy(w.hw.shadow.data() + (c.addr - w.spec.addr), e.new_bytes.data(), c.len);
      if (passes_value_filter(e)) v.events.push_back(e);
    }
  }
  return true;
}

void GuestDebugger::Impl::rebuild_mapping_checks() {
  mapping_checks.clear();
  for (const Watch& w : watches) {
    if (w.engine != Engine::write_trap) continue;
    for (const TrapPiece& p : w.trap.pieces)
      for (std::uint64_t off = 0; off < p.len;) {
        const std::uint64_t gva = p.gva + off;
        mapping_checks.push_back(
            {w.id, gva & ~(kGuestPageSize - 1), (p.gpa + off) & ~(kGuestPageSize - 1), w.trap.cr3});
        off += ((gva | (kGuestPageSize - 1)) + 1) - gva;
      }
  }
}

void GuestDebugger::Impl::check_mappings(unsigned index, VcpuState& v) {
  // A few pages per exit, in turn: the check must stay cheap on every exit.
  constexpr std::size_t kPerExit = 8;
  const PagingState p = paging(v);
  constexpr std::uint64_t kCr3Address = 0x000FFFFFFFFFF000ull;
  const std::size_t n = std::min(kPerExit, mapping_checks.size());
  for (std::size_t i = 0; i < n; ++i) {
    const MappingCheck& c = mapping_checks[v.mapping_cursor++ % mapping_checks.size()];
    // Another address space (a guest process switch): the virtual address means something else
    // there; write traps follow the physical memory they were armed on.
    if ((c.cr3 & kCr3Address) != (p.cr3 & kCr3Address)) continue;
    const Translation t = walk_page_tables(p, c.gva_page, *ram);
    if (t.failure == WalkFailure::table_unreadable) continue;
    const std::uint64_t now = t.guest_phys ? *t.guest_phys & ~(kGuestPageSize - 1) : 0;
    if (t.guest_phys && now == c.gpa_page) continue;
    Watch& w = watches.at(c.watch);
    if (w.trap.move_reported) continue;
    w.trap.move_reported = true;
    Event e;
    e.kind = EventKind::mapping_changed;
    e.vcpu = index;
    e.watch = c.watch;
    e.engine = Engine::write_trap;
    e.access = w.spec.access;
    e.pc = linear_rip(v);
    e.addr = c.gva_page;
    e.len = static_cast<std::uint32_t>(kGuestPageSize);
    e.guest_phys = now;
    v.events.push_back(e);
  }
}

}  // namespace hwbp::kvm
