// A store that faulted on a protected page, completed exactly without making the page writable
// (emulation, displaced step) or, as the last resort, with every other thread stopped.
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cstring>

#include "decode/store_analysis.hpp"
#include "ptrace/page_transport_state.hpp"
#include "ptrace/sys_error.hpp"
#include "ptrace/vector_store.hpp"

namespace hwbp::ptrace {
namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kMaxBatch = 1u << 20;  // largest string-instruction batch per stop

// GeneralRegisters is PTRACE_GETREGS' user_regs_struct (registers.hpp).
decode::Registers to_decode(const GeneralRegisters& r) { return decode::from_user_regs(r); }

GeneralRegisters from_decode(GeneralRegisters r, const decode::Registers& d) {
  r.rax = d.gpr[decode::rax];
  r.rcx = d.gpr[decode::rcx];
  r.rdx = d.gpr[decode::rdx];
  r.rbx = d.gpr[decode::rbx];
  r.rsp = d.gpr[decode::rsp];
  r.rbp = d.gpr[decode::rbp];
  r.rsi = d.gpr[decode::rsi];
  r.rdi = d.gpr[decode::rdi];
  r.r8 = d.gpr[decode::r8];
  r.r9 = d.gpr[decode::r9];
  r.r10 = d.gpr[decode::r10];
  r.r11 = d.gpr[decode::r11];
  r.r12 = d.gpr[decode::r12];
  r.r13 = d.gpr[decode::r13];
  r.r14 = d.gpr[decode::r14];
  r.r15 = d.gpr[decode::r15];
  r.rip = d.rip;
  r.eflags = d.rflags;
  return r;
}

bool read_target(void* ctx, std::uint64_t addr, void* out, std::size_t len) {
  return static_cast<const Tracee*>(ctx)->memory().try_read(addr, {static_cast<std::uint8_t*>(out), len});
}

}  // namespace

bool PageTransport::on_signal_stop(pid_t tid, const siginfo_t& info) {
  try {
    return s_->signal_stop(tid, info);
  } catch (const ThreadGone&) {
    return true;  // killed meanwhile: its exit is among the deferred stops
  }
}

bool PageTransport::State::signal_stop(pid_t tid, const siginfo_t& info) {
  if (info.si_signo != SIGSEGV) return false;
  if (info.si_code != SEGV_ACCERR) {
    ++stats.foreign_faults;
    return false;
  }
  const auto addr = reinterpret_cast<std::uint64_t>(info.si_addr);
  if (!set.protects(addr)) {
    // A page given back since the fault (watch removed or ended, even the last one) faults no
    // more: let the instruction run again, once. A fault that repeats at the same place is the program's.
    const std::uint64_t rip = get_registers(tid).rip;
    auto& last = last_retry[tid];
    if (last != std::make_pair(addr, rip)) {
      last = {addr, rip};
      return true;
    }
    last_retry.erase(tid);
    ++stats.foreign_faults;
    return false;
  }
  last_retry.erase(tid);
  if (!pending_protect.empty()) {
    InjectionSession session = inject(tid);
    apply_pending(session);
    session.finish();
  }
  if (complete_store(tid, addr)) return true;
  ++stats.foreign_faults;
  return false;
}

namespace {

// Up to 15 instruction bytes at rip (fewer where the code mapping ends).
std::size_t fetch_code(const Tracee& t, std::uint64_t rip, std::uint8_t* out) {
  const std::size_t room = static_cast<std::size_t>(std::min<std::uint64_t>(15, kPage - (rip & (kPage - 1))));
  if (!t.memory().try_read(rip, {out, room})) return 0;
  if (room == 15) return 15;
  return t.memory().try_read(rip + room, {out + room, 15 - room}) ? 15 : room;
}

// Bytes from `start` to the end (or, for a backwards string instruction, from the start) of the
// run of protected pages holding it: a batch never leaves the engine's pages, where another
// mapping's fault must happen for real.
std::uint64_t protected_run(const core::PageSet& set, std::uint64_t start, bool down) {
  std::uint64_t page = set.page_of(start), n = 0;
  if (!down) {
    n = page + kPage - start;
    for (std::uint64_t p = page + kPage; n < kMaxBatch && set.protects(p); p += kPage) n += kPage;
  } else {
    n = start - page + 1;
    for (std::uint64_t p = page - kPage; n < kMaxBatch && p < page && set.protects(p); p -= kPage) n += kPage;
  }
  return std::min(n, kMaxBatch);
}

}  // namespace

bool PageTransport::State::complete_store(pid_t tid, std::uint64_t fault_addr) {
  GeneralRegisters regs = get_registers(tid);
  std::uint8_t code[15];
  const std::size_t code_len = fetch_code(tracee, regs.rip, code);
  if (code_len == 0) return false;
  decode::Options opts;
  opts.scratch_code = scratch.step_slot();
  opts.scratch_data = scratch.data();
  opts.max_string_bytes = protected_run(set, regs.rdi, (regs.eflags & decode::kFlagDF) != 0);
  const decode::Registers before = to_decode(regs);
  const decode::MemoryReader reader{&read_target, &tracee};
  decode::StoreAnalysis a = decode::analyze_store({code, code_len}, before, {}, reader, opts);
  if (a.resolution == decode::Resolution::displace && stores_vector_register({code, code_len})) {
    // A vector store: with the XSAVE state it is emulated, one single-step cheaper.
    ExtendedState x = ExtendedState::read(tid);
    a = decode::analyze_store({code, code_len}, before, {x.raw().data(), x.raw().size()}, reader, opts);
  }
  switch (a.resolution) {
    case decode::Resolution::emulate:
      if (!set.store_is_ours(a.write.addr, a.write.size)) return false;
      if (emulate(tid, regs, a)) return true;
      break;
    case decode::Resolution::displace:
      if (!set.store_is_ours(a.write.addr, a.write.size)) return false;
      if (a.displacement.code_length != 0 && displaced_step(tid, regs, a)) return true;
      break;
    case decode::Resolution::no_write: return false;
    case decode::Resolution::unsupported: break;
  }
  return last_resort(tid, regs, fault_addr);
}

bool PageTransport::State::emulate(pid_t tid, const GeneralRegisters& regs, const decode::StoreAnalysis& a) {
  const decode::Emulation& e = a.emulation;
  const std::size_t n = a.write.size;
  std::vector<std::uint8_t> old_bytes(n), new_bytes(n);
  if (n) {
    if (!tracee.memory().try_read(a.write.addr, old_bytes)) return false;
    switch (e.source) {
      case decode::Source::bytes: std::memcpy(new_bytes.data(), e.bytes.data(), n); break;
      case decode::Source::fill: decode::render_fill(e, 0, new_bytes.data(), n); break;
      case decode::Source::copy:
        if (!tracee.memory().try_read(e.copy_from, new_bytes)) return false;
        break;
    }
    if (!tracee.memory().try_write(a.write.addr, new_bytes)) return false;
  }
  set_registers(tid, from_decode(regs, e.after));
  ++stats.emulated;
  if (n)
    report(tid, a.write.addr, n, old_bytes.data(), new_bytes.data(), regs.rip, e.after.rip, nullptr, regs);
  return true;
}

bool PageTransport::State::displaced_step(pid_t tid, const GeneralRegisters& regs,
                                          const decode::StoreAnalysis& a) {
  const decode::Displacement& d = a.displacement;
  std::vector<std::uint8_t> old_bytes(d.operand_size), new_bytes(d.operand_size);
  if (!tracee.memory().try_read(d.operand_addr, old_bytes)) return false;
  tracee.memory().write(d.data_addr, old_bytes);
  std::span<const std::uint8_t> insn(d.code.data(), d.code_length);
  if (!std::equal(insn.begin(), insn.end(), step_code.begin(), step_code.end())) {
    tracee.memory().write(scratch.step_slot(), insn);
    step_code.assign(insn.begin(), insn.end());
  }
  GeneralRegisters at_slot = regs;
  at_slot.rip = scratch.step_slot();
  set_registers(tid, at_slot);
  Tracee::StepResult step = tracee.step(tid);
  GeneralRegisters after = get_registers(tid);
  if (step.faulted || after.rip != scratch.step_slot() + d.code_length) {
    // The re-encoded instruction faulted (or went astray): back to the original, untouched.
    set_registers(tid, regs);
    ::ptrace(PTRACE_SETSIGINFO, tid, nullptr, &step.info);
    return false;
  }
  tracee.memory().read(d.data_addr, new_bytes);
  tracee.memory().write(d.operand_addr, new_bytes);
  after.rip = d.next_rip;
  set_registers(tid, after);
  ++stats.displaced;
  report(tid, d.operand_addr, d.operand_size, old_bytes.data(), new_bytes.data(), regs.rip, d.next_rip,
         nullptr, regs);
  return true;
}

bool PageTransport::State::last_resort(pid_t tid, const GeneralRegisters& regs, std::uint64_t fault_addr) {
  // Every other thread stopped, the faulting page (and any further protected page the
  // instruction faults on) gets the program's protection for one single-step of the original
  // instruction, then read-only again; the pages are diffed. Exact: nothing else ran meanwhile.
  auto prot = set.program_protection(fault_addr);
  if (!prot || (*prot >= 0 && !(*prot & PROT_WRITE))) return false;
  WorldStop world(*this, tid);
  std::vector<core::PageRange> pages{{set.page_of(fault_addr), kPage}};
  std::vector<std::uint8_t> before = snapshot(pages);
  bool stepped = false, program_fault = false;
  for (int attempt = 0; attempt < 16 && !stepped && !program_fault; ++attempt) {
    {
      InjectionSession session = inject(tid);
      unprotect(session, pages.back());
      session.finish();  // back at the original instruction, SIGSEGV siginfo restored
    }
    Tracee::StepResult step;
    try {
      step = tracee.step(tid);
    } catch (const ThreadGone&) {
      // Killed mid-step (the process is usually dying): protect the pages again at the next
      // injection the engine makes.
      pending_protect.insert(pending_protect.end(), pages.begin(), pages.end());
      throw;
    }
    if (!step.faulted) {
      stepped = true;
      break;
    }
    const auto next = reinterpret_cast<std::uint64_t>(step.info.si_addr);
    if (step.info.si_signo == SIGSEGV && step.info.si_code == SEGV_ACCERR && set.protects(next) &&
        std::none_of(pages.begin(), pages.end(),
                     [&](const core::PageRange& r) { return r.addr == set.page_of(next); })) {
      // Another protected page (a store crossing pages, a scatter): release it too and retry.
      std::vector<core::PageRange> more{{set.page_of(next), kPage}};
      std::vector<std::uint8_t> snap = snapshot(more);
      pages.push_back(more.front());
      before.insert(before.end(), snap.begin(), snap.end());
      set_registers(tid, regs);
      continue;
    }
    program_fault = true;  // its own fault: the thread sits in that signal's stop for the tracer
  }
  GeneralRegisters after = get_registers(tid);
  {
    InjectionSession session = inject(tid);
    for (const core::PageRange& r : pages) protect(session, r);
    session.finish();
  }
  // Report even a faulting instruction's partial work (a rep movs that ran into unmapped
  // memory wrote up to the fault).
  report_diff(tid, pages, before, regs.rip, after.rip, nullptr, regs);
  if (!stepped) return false;
  ++stats.last_resort;
  return true;
}

}  // namespace hwbp::ptrace
