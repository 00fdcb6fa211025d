#include "ptrace_delivery.hpp"

#include <sys/ptrace.h>
#include <sys/user.h>

#include <algorithm>

#include "perf/sigtrap_info.hpp"
#include "symbols/data_access.hpp"
#include "symbols/unwinder.hpp"

namespace hwbp::cli {

void PtraceDelivery::forget_shadow(core::WatchId watch) { shadows_[watch].forget(); }

void PtraceDelivery::seed_shadow(core::WatchId watch, const Bytes& bytes) {
  shadows_[watch].arm(bytes, core::ShadowState::confirmed);
}

bool PtraceDelivery::owns(const siginfo_t& info) const {
  const auto trap = perf::perf_trap(info);
  return trap && core::decode_sig_data(trap->data, core::SigDataOwner::tool);
}

void PtraceDelivery::on_stop(pid_t tid, const siginfo_t& info) {
  const auto trap = perf::perf_trap(info);
  const auto tag = trap ? core::decode_sig_data(trap->data, core::SigDataOwner::tool) : std::nullopt;
  if (!tag || !arming_) return;
  user_regs_struct regs{};
  ptrace(PTRACE_GETREGS, tid, nullptr, &regs);
  std::vector<core::WatchId> hit = arming_->watches_of(*tag, trap->addr);
  for (core::WatchId id : co_hits(hit, regs)) hit.push_back(id);
  for (core::WatchId id : hit) ++trapped_[id];
  for (core::WatchId id : hit) {
    const Watch& w = watches_.at(id);
    if (w.state != Watch::State::armed || sink_.done()) continue;
    HitEvent h;
    h.watch = id;
    h.tid = tid;
    h.pc = regs.rip;
    h.pc_is = w.spec.access == Access::exec ? PcIs::the_access : PcIs::after_access;
    h.async = trap->async();
    h.new_bytes = arming_->read_bytes(w);  // the writer is stopped: exact
    h.old_bytes = shadows_[id].exchange(h.new_bytes);
    // The thread is ptrace-stopped by us: libdwfl may read its registers directly.
    symbols::ProcessImage& image = *symbolizer_.image();
    h.unwind = [&image, tid](std::size_t depth) { return symbols::backtrace_thread(image, tid, true, depth); };
    sink_.accept(std::move(h));
  }
}

std::vector<core::WatchId> PtraceDelivery::co_hits(const std::vector<core::WatchId>& hit,
                                                   const user_regs_struct& regs) {
  if (std::none_of(hit.begin(), hit.end(), [&](core::WatchId id) { return watches_.overlaps_another(id); }))
    return {};
  const symbols::DecodedInstruction* insn = symbolizer_.accessing_instruction(regs.rip);
  if (!insn) return {};
  symbols::RegisterFile rf;
  rf.gpr = {regs.rax, regs.rdx, regs.rcx, regs.rbx, regs.rsi, regs.rdi, regs.rbp, regs.rsp, regs.r8,
            regs.r9,  regs.r10, regs.r11, regs.r12, regs.r13, regs.r14, regs.r15, regs.rip};
  rf.fs_base = regs.fs_base;
  rf.gs_base = regs.gs_base;
  auto accesses = symbols::data_accesses(*insn, rf);
  if (!accesses) return {};  // not computable: this SIGTRAP's own watches only
  std::vector<core::WatchId> more;
  for (const Watch& w : watches_.all())
    if (arming_->on_hardware(w.id) && watches_.triggered_by(w, *accesses) &&
        std::find(hit.begin(), hit.end(), w.id) == hit.end())
      more.push_back(w.id);
  return more;
}

}  // namespace hwbp::cli
