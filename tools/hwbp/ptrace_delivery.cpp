#include "ptrace_delivery.hpp"

#include <sys/ptrace.h>
#include <sys/user.h>

#include <algorithm>
#include <ctime>

#include "decode/stored_value.hpp"
#include "perf/sigtrap_info.hpp"
#include "symbols/data_access.hpp"
#include "symbols/unwinder.hpp"

namespace hwbp::cli {
namespace {

// Hits waiting for a quiet stop are resolved anyway after this long: a trapped store reaches
// the tracer in microseconds, and a second covers a loaded machine. A trap still unseen then is
// lost (its thread blocks SIGTRAP).
constexpr std::uint64_t kMaxWaitNs = 1'000'000'000;

// A quiet count (every trap the kernel counted was seen as a stop) proves only the stores whose
// trap is counted, and a store is visible to other CPUs before its debug exception is taken and
// counted (kernel/events/hw_breakpoint.c, perf_bp_event, in the #DB handler): a CPU preempted in
// between (a vCPU the hypervisor deschedules; the test VM's TCG runs its vCPUs in turns) leaves a
// store in the bytes read at a stop but not yet in the count, and the hits settled then chained
// through a value nobody had reported (vm.cli.run_race_threads_test.ptrace: 2 of 8 runs had an
// exact old that was not the previous hit's new). So a quiet count at time t settles only what
// was observed kQuietHoldNs before t: a trap is counted within that time of its store (the bpf
// delivery's hold, bpf_delivery.cpp kHoldNs).
constexpr std::uint64_t kQuietHoldNs = 100'000'000;

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

// What the instruction before the trap did to the watch, from its bytes and the registers at
// the stop (decode/stored_value.hpp); unknown when the instruction is not known.
core::StoreEffect effect_of(const symbols::DecodedInstruction* insn, const Watch& w, const user_regs_struct& regs) {
  if (insn == nullptr || insn->bytes.empty()) return {};
  const decode::StoredValue v =
      decode::stored_value_after(insn->bytes, insn->address, decode::from_user_regs(regs), decode::VectorState{});
  return decode::effect_on_watch(v, w.addr, w.len, regs.eflags);
}

// The latest observation a quiet count at `now` proves complete (kQuietHoldNs).
StoreSequencer::Mark quiet_cut(const StoreSequencer& seq, std::uint64_t now) {
  StoreSequencer::Mark m = seq.base();
  while (m < seq.last() && seq.time_of(m + 1) + kQuietHoldNs <= now) ++m;
  return m;
}

}  // namespace

PtraceDelivery::Order& PtraceDelivery::order_of(const Watch& w) { return orders_[w.id]; }

void PtraceDelivery::restart(core::WatchId watch, std::optional<Bytes> at_arming) {
  Order& o = orders_[watch];
  std::size_t len = watches_.contains(watch) ? watches_.at(watch).len : 0;
  o.sequencer.restart(std::move(at_arming), len, sink_);
  o.thread_mark.clear();
  o.accounted.reset();
}

void PtraceDelivery::forget_shadow(core::WatchId watch) { restart(watch, std::nullopt); }

void PtraceDelivery::seed_shadow(core::WatchId watch, const Bytes& bytes) {
  restart(watch, bytes);
  orders_[watch].accounted = unseen_traps(watch);
}

std::optional<std::int64_t> PtraceDelivery::unseen_traps(core::WatchId watch) const {
  const std::optional<std::uint64_t> counted = arming_ ? arming_->kernel_hits(watch) : std::nullopt;
  if (!counted) return std::nullopt;
  auto it = trapped_.find(watch);
  return static_cast<std::int64_t>(*counted) - static_cast<std::int64_t>(it == trapped_.end() ? 0 : it->second);
}

void PtraceDelivery::account_lost(core::WatchId watch, Order& o) {
  const std::optional<std::int64_t> unseen = unseen_traps(watch);
  if (!unseen || !o.accounted || *unseen <= *o.accounted) return;
  // A store nobody saw lies somewhere among the waiting hits (and before any hit of a thread
  // whose previous stop came before now): the old/new chain is broken there.
  o.sequencer.poison();
  o.accounted = unseen;
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
    // The thread is ptrace-stopped by us: libdwfl may read its registers directly.
    symbols::ProcessImage& image = *symbolizer_.image();
    h.unwind = [&image, tid](std::size_t depth) { return symbols::backtrace_thread(image, tid, true, depth); };
    if (w.spec.access == Access::exec) {
      sink_.accept(std::move(h));
      continue;
    }
    sequence(w, std::move(h), regs, trap->async());
  }
}

void PtraceDelivery::sequence(const Watch& w, HitEvent h, const user_regs_struct& regs, bool async) {
  Order& o = order_of(w);
  StoreSequencer& seq = o.sequencer;
  const pid_t tid = h.tid;
  // The bytes now: the latest store's, this thread's or one made since by another.
  const StoreSequencer::Mark mark = seq.observe(arming_->read_bytes(w), now_ns());
  auto prev = o.thread_mark.find(tid);
  const StoreSequencer::Mark after = prev == o.thread_mark.end() ? seq.base() : prev->second;
  o.thread_mark[tid] = mark;
  // A late (async) stop: the thread ran on after the access, its registers say nothing of it.
  core::StoreEffect effect = async ? core::StoreEffect{} : effect_of(symbolizer_.accessing_instruction(regs.rip), w, regs);
  seq.add(std::move(h), after, mark, std::move(effect));
  // Quiet: every trap the kernel counted on the watch's slots has been seen as a stop (the
  // count read after the bytes), so every store before that read is among the hits seen.
  // Unknown count (a rotating watch): the hits settle by time (poll).
  if (const std::optional<std::int64_t> unseen = unseen_traps(w.id)) {
    if (!o.accounted) o.accounted = unseen;  // no seed: the first stop sets the reference
    if (*unseen == *o.accounted) {
      seq.settle(quiet_cut(seq, now_ns()), sink_);
    } else if (*unseen < *o.accounted) {
      // A stop the count does not show: one access over two chunks is counted once
      // (SlotArming::kernel_hits), or a re-armed watch's count started again.
      o.accounted = unseen;
    }
  }
  if (seq.pending() == 0) return;
  // Still waiting (every hit does, kQuietHoldNs at least): keep this thread's stack now, it runs
  // on once this stop returns. Only this stop's hit, the last added: the earlier ones kept theirs
  // at their own stops (a pass over every waiting hit per stop was quadratic in the hold).
  HitEvent* waiting = seq.waiting(seq.pending() - 1);
  if (waiting == nullptr || waiting->tid != tid || !waiting->unwind || waiting->unwind_kept) return;
  std::vector<symbols::Frame> frames;
  const std::size_t depth = sink_.stack_depth();
  try {
    if (depth > 1) frames = waiting->unwind(depth);
    // libdwfl stops at a frame in a module the image does not know yet (loaded since it was
    // read): re-read the maps once and unwind again while the thread is still stopped, as the
    // reporter does for a live unwind (Symbolizer::stack); the frames kept here cannot be redone.
    symbols::ProcessImage& image = *symbolizer_.image();
    if (!frames.empty() && frames.size() < depth && !image.module_at(frames.back().lookup_address()).handle) {
      image.refresh();
      frames = waiting->unwind(depth);
    }
  } catch (const std::exception&) {
  }
  waiting->unwind = [frames = std::move(frames)](std::size_t depth) {
    return std::vector<symbols::Frame>(frames.begin(), frames.begin() + std::min(depth, frames.size()));
  };
  waiting->unwind_kept = true;
}

std::optional<Delivery::TimePoint> PtraceDelivery::next_poll() const {
  // When the oldest waiting observation may be settled (steady_clock is CLOCK_MONOTONIC).
  std::optional<TimePoint> next;
  const std::uint64_t now = now_ns();
  for (const auto& [id, o] : orders_) {
    if (o.sequencer.pending() == 0) continue;
    // Once its hold has passed (a quiet count then settles it), else after the longest wait.
    const std::uint64_t first = o.sequencer.time_of(o.sequencer.base() + 1);
    TimePoint t{std::chrono::nanoseconds(first + kQuietHoldNs > now ? first + kQuietHoldNs : first + kMaxWaitNs)};
    if (!next || t < *next) next = t;
  }
  return next;
}

void PtraceDelivery::poll(std::chrono::milliseconds /*budget*/) {
  // Between stops (a timer tick, or before the session handles the next stop): if the count
  // shows nothing in flight now, everything seen is settled; otherwise what is old enough.
  const std::uint64_t now = now_ns();
  for (auto& [id, o] : orders_) {
    StoreSequencer& seq = o.sequencer;
    if (seq.pending() == 0 || !arming_) continue;
    const std::optional<std::int64_t> unseen = unseen_traps(id);
    if (unseen && o.accounted && *unseen == *o.accounted) {
      seq.settle(quiet_cut(seq, now), sink_);
      continue;
    }
    StoreSequencer::Mark old = seq.base();
    while (old < seq.last() && seq.time_of(old + 1) + kMaxWaitNs < now) ++old;
    if (old == seq.base()) continue;
    account_lost(id, o);  // waited out: what is still unseen is lost
    seq.settle(old, sink_);
  }
}

void PtraceDelivery::flush() {
  // The session drained the traps in flight before (Session::drain_traps): unseen ones are lost.
  for (auto& [id, o] : orders_) {
    if (o.sequencer.pending() > 0) account_lost(id, o);
    o.sequencer.settle_all(sink_);
  }
}

void PtraceDelivery::watch_ending(core::WatchId watch) {
  auto it = orders_.find(watch);
  if (it == orders_.end() || it->second.sequencer.pending() == 0) return;
  Order& o = it->second;
  // Settled before the hold: exact only if the kernel's count shows no trap in flight (then every
  // store of the watch has been seen); else a store may still lie among them.
  const std::optional<std::int64_t> unseen = unseen_traps(watch);
  if (!(unseen && o.accounted && *unseen == *o.accounted)) o.sequencer.poison();
  o.sequencer.settle_all(sink_);
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
