#include "bpf_delivery.hpp"

#include <algorithm>
#include <cstdio>

#include "core/value_filter.hpp"
#include "perf/event.hpp"
#include "symbols/snapshot_unwinder.hpp"

namespace hwbp::cli {
namespace {

// Records are consumed this often while the program runs: the ring holds ~1 s of hits without
// stacks at the fastest rate a VM delivers, so this is about latency, not capacity.
constexpr auto kDrainPeriod = std::chrono::milliseconds(2);
constexpr std::size_t kDrainBatch = 64;

// One enum on both sides of the kernel boundary.
static_assert(HWBP_BPF_EVERY == static_cast<int>(core::ValueFilter::every));
static_assert(HWBP_BPF_CHANGED == static_cast<int>(core::ValueFilter::changed));
static_assert(HWBP_BPF_UNCHANGED == static_cast<int>(core::ValueFilter::unchanged));
static_assert(HWBP_BPF_NO_VALUE == static_cast<int>(core::ValueFilter::no_value));
// The record's registers are the snapshot unwinder's, in DWARF numbering.
static_assert(HWBP_BPF_REG_RSP == symbols::kDwarfRsp && HWBP_BPF_REG_RIP == symbols::kDwarfRip);
static_assert(HWBP_BPF_NREGS == std::tuple_size_v<decltype(symbols::StackSnapshot::regs)>);

std::optional<Bytes> bytes_of(const std::uint8_t* p, std::size_t len, bool known) {
  if (!known) return std::nullopt;
  return Bytes(p, p + std::min<std::size_t>(len, HWBP_BPF_MAX_VALUE));
}

}  // namespace

BpfDelivery::BpfDelivery(WatchSet& watches, Symbolizer& symbolizer, HitSink& sink,
                         std::uint32_t stack_bytes, bool count_only)
    : watches_(watches), symbolizer_(symbolizer), sink_(sink), stack_bytes_(stack_bytes),
      count_only_(count_only) {}

void BpfDelivery::attach(const perf::Event& event) { program_.attach(event.fd()); }

void BpfDelivery::watch_armed(const Watch& w) {
  const auto filter = static_cast<hwbp_bpf_filter>(core::value_filter_for(w.spec.access));
  program_.set_watch(w.id.value, w.addr, static_cast<std::uint32_t>(w.len), filter, stack_bytes_,
                     count_only_);
}

void BpfDelivery::chunk_mapped(const core::Chunk& chunk, core::WatchId watch, unsigned part) {
  program_.add_chunk(chunk.addr, chunk.len, static_cast<std::uint32_t>(chunk.type), watch.value, part);
}

void BpfDelivery::chunk_unmapped(const core::Chunk& chunk, core::WatchId watch) {
  program_.remove_chunk(chunk.addr, chunk.len, static_cast<std::uint32_t>(chunk.type), watch.value);
}

void BpfDelivery::chunks_cleared() { program_.clear_chunks(); }

void BpfDelivery::forget_shadow(core::WatchId watch) { program_.set_shadow(watch.value, std::nullopt); }

void BpfDelivery::seed_shadow(core::WatchId watch, const Bytes& bytes) {
  program_.set_shadow(watch.value, bytes);
}

void BpfDelivery::poll(std::chrono::milliseconds budget) {
  auto fn = [this](const hwbp_bpf_hit& hit, std::span<const std::uint8_t> stack) { on_record(hit, stack); };
  // Bounded in time, not records: other threads may write faster than hwbp prints (a record
  // costs 10-20 us here, far more under a sanitizer). Between budgets, ptrace stops and the
  // --flexible rotation get their turn; a full last batch means more is waiting.
  auto end = std::chrono::steady_clock::now() + budget;
  bool more = true;
  while (more) {
    more = program_.drain(fn, kDrainBatch) == kDrainBatch;
    if (budget != kAll && std::chrono::steady_clock::now() >= end) break;
  }
  next_drain_ = std::chrono::steady_clock::now() + (more ? std::chrono::milliseconds(0) : kDrainPeriod);
}

void BpfDelivery::flush() {
  poll(kAll);
  for (const auto& c : program_.take_counts())
    if (watches_.contains(core::WatchId{c.watch})) sink_.accept_count(core::WatchId{c.watch}, c.ip, c.hits);
}

void BpfDelivery::on_record(const hwbp_bpf_hit& hit, std::span<const std::uint8_t> stack) {
  const core::WatchId id{hit.watch};
  if (!watches_.contains(id)) return;
  // No state check: the record exists because the watch was armed when it fired, and records
  // are still read after the events are closed (finish) or removed (execve).
  const Watch& w = watches_.at(id);
  HitEvent h;
  h.watch = id;
  h.tid = static_cast<pid_t>(hit.tid);
  h.pc = hit.regs[HWBP_BPF_REG_RIP];
  h.pc_is = w.spec.access == Access::exec ? PcIs::the_access : PcIs::after_access;
  h.value_filtered = true;  // in the kernel, at the hit
  if (w.spec.access != Access::exec) {
    h.old_bytes = bytes_of(hit.old_bytes, w.len, hit.flags & HWBP_BPF_OLD_KNOWN);
    h.new_bytes = bytes_of(hit.new_bytes, w.len, hit.flags & HWBP_BPF_NEW_KNOWN);
  }
  symbols::StackSnapshot snap;
  snap.tid = h.tid;
  std::copy(std::begin(hit.regs), std::end(hit.regs), snap.regs.begin());
  snap.stack_start = hit.regs[HWBP_BPF_REG_RSP];
  snap.bytes = stack.data();
  snap.size = stack.size();
  symbols::ProcessImage& image = *symbolizer_.image();
  // The record's stack is valid during this call only, which is when the sink unwinds it.
  h.unwind = [&image, snap](std::size_t depth) { return symbols::backtrace_snapshot(image, snap, depth); };
  sink_.accept(std::move(h));
}

void BpfDelivery::warn_lost() const {
  auto st = program_.stats();
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
