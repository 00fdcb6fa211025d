// Session, BPF delivery: the mode choice, and hits read from the BPF program's ring buffer.
//
// The program (src/bpf/watch_hit.bpf.c) has already read the bytes in the kernel at the hit and
// applied the modify / read filter; hwbp reads its records on a short timer (the program asks
// for no wakeup, which would cost every hit an irq_work) and at every ptrace stop that changes
// what the records mean: a dlopen, an execve, a thread's or the program's exit.
#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "bpf/hit_program.hpp"
#include "hwbp/error.hpp"
#include "session.hpp"
#include "symbols/snapshot_unwinder.hpp"

namespace hwbp::cli {
namespace {

// Records are consumed this often while the program runs: the ring holds ~1 s of hits without
// stacks at the fastest rate a VM delivers, so this is about latency, not capacity.
constexpr auto kDrainPeriod = std::chrono::milliseconds(2);
constexpr std::size_t kDrainBatch = 64;

std::optional<std::vector<std::uint8_t>> bytes_of(const std::uint8_t* p, std::size_t len, bool known) {
  if (!known) return std::nullopt;
  return std::vector<std::uint8_t>(p, p + std::min<std::size_t>(len, HWBP_BPF_MAX_VALUE));
}

}  // namespace

void Session::choose_delivery() {
  if (opts_.mode == "ptrace") return;
  try {
    bpf_ = std::make_unique<bpf::HitProgram>();
  } catch (const Error& e) {
    if (opts_.mode == "bpf") throw;
    bpf_.reset();  // auto: the ptrace mode needs no privilege
  }
}

void Session::drain(std::chrono::milliseconds budget) {
  if (!bpf_) return;
  auto fn = [this](const hwbp_bpf_hit& hit, std::span<const std::uint8_t> stack) { on_bpf_hit(hit, stack); };
  // Bounded in time, not records: other threads may write faster than hwbp prints (a record
  // costs 10-20 us here, far more under a sanitizer). Between budgets, ptrace stops and the
  // --flexible rotation get their turn; a full last batch means more is waiting.
  auto end = std::chrono::steady_clock::now() + budget;
  bool more = true;
  while (more) {
    more = bpf_->drain(fn, kDrainBatch) == kDrainBatch;
    if (budget != kDrainAll && std::chrono::steady_clock::now() >= end) break;
  }
  next_drain_ = std::chrono::steady_clock::now() + (more ? std::chrono::milliseconds(0) : kDrainPeriod);
}

void Session::on_thread_exit(pid_t tid) {
  drain(kStopBudget);  // the address space still exists: its code can be read for the last hits
  thread_names_.erase(tid);  // a later thread may reuse the id
}

void Session::on_bpf_hit(const hwbp_bpf_hit& hit, std::span<const std::uint8_t> stack) {
  if (!watches_ || hit.watch >= watches_->watches().size()) return;
  // No state check: the record exists because the watch was armed when it fired, and records
  // are still read after the events are closed (finish) or removed (execve).
  Watch& w = watches_->watches()[hit.watch];
  auto old = bytes_of(hit.old_bytes, w.len, hit.flags & HWBP_BPF_OLD_KNOWN);
  auto now = bytes_of(hit.new_bytes, w.len, hit.flags & HWBP_BPF_NEW_KNOWN);
  if (w.spec.access == Access::exec) old = now = std::nullopt;
  if (now) w.shadow = *now;
  symbols::StackSnapshot snap;
  snap.tid = static_cast<pid_t>(hit.tid);
  std::copy(std::begin(hit.regs), std::end(hit.regs), snap.regs.begin());
  snap.stack_start = hit.regs[7];
  snap.bytes = stack.data();
  snap.size = stack.size();
  accept(static_cast<pid_t>(hit.tid), hit.regs[16], w, false, std::move(old), std::move(now),
         [&](std::size_t depth) { return symbols::backtrace_snapshot(*image_, snap, depth); });
}

void Session::collect_counts() {
  if (!bpf_) return;
  for (const auto& c : bpf_->take_counts()) {
    if (c.watch >= watches_->watches().size()) continue;
    Watch& w = watches_->watches()[c.watch];
    HitRecord h;
    h.watch = &w;
    h.ip = c.ip;
    h.site = symbolizer_.access_site(c.ip, w.spec.access == Access::exec, &h.instruction);
    reporter_->count(h, c.hits);
    w.hits += c.hits;
    total_ += c.hits;
  }
}

void Session::warn_lost() const {
  if (!bpf_) return;
  auto st = bpf_->stats();
  if (st.counts_full)
    std::fprintf(stderr, "hwbp: %llu hits were not counted: more than %d distinct writing "
                 "instructions\n", static_cast<unsigned long long>(st.counts_full),
                 HWBP_BPF_MAX_COUNT_KEYS);
  if (st.lost == 0) return;
  std::fprintf(stderr,
               "hwbp: %llu hit%s lost: the program wrote faster than hwbp could read them (the "
               "counts above miss them); use --count, a smaller --stack, or --mode ptrace, which "
               "stops each writer until its hit is reported\n",
               static_cast<unsigned long long>(st.lost), st.lost == 1 ? " was" : "s were");
}

}  // namespace hwbp::cli
