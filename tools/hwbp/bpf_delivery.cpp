#include "bpf_delivery.hpp"

#include <sys/sysinfo.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "core/value_filter.hpp"
#include "decode/stored_value.hpp"
#include "perf/event.hpp"
#include "perf/threads.hpp"
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

// A CPU that made no hit of a watch for this long is taken to have no store of it on the way
// (a store's #DB handler runs before anything else on its CPU: microseconds, or a hypervisor's
// preemption of the virtual CPU), and a counter value missing for this long to be a lost record.
// The program takes the counter, reads the clock and writes the ring in one run with interrupts
// off (the perf overflow handler in the #DB handler: kernel/events/hw_breakpoint.c,
// perf_bp_event), so within this time of each other too.
constexpr std::uint64_t kHoldNs = 100'000'000;

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // bpf_ktime_get_ns's clock
  return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

}  // namespace

BpfDelivery::BpfDelivery(WatchSet& watches, Symbolizer& symbolizer, HitSink& sink,
                         std::uint32_t stack_bytes, bool count_only)
    : watches_(watches), symbolizer_(symbolizer), sink_(sink), stack_bytes_(stack_bytes),
      count_only_(count_only), cpus_(static_cast<std::uint32_t>(std::max(1, get_nprocs()))) {}

void BpfDelivery::attach(const perf::Event& event) { program_.attach(event.fd()); }

void BpfDelivery::watch_armed(const Watch& w) {
  // Reported hits are filtered on their exact values, known only here (issue 17): the kernel
  // filters nothing but execute breakpoints' (no values). --count counts in the kernel, also
  // with a value filter (modify, r): no record per hit (a busy writer filled the ring, and its
  // records took a minute to order at the detach); the kernel's verdict is exact unless threads
  // raced on the bytes, which the program detects and flush() marks (hit_record.h, "raced").
  const auto filter = core::value_filter_for(w.spec.access);
  const bool no_filter = filter == core::ValueFilter::every || filter == core::ValueFilter::no_value;
  program_.set_watch(w.id.value, w.addr, static_cast<std::uint32_t>(w.len),
                     static_cast<hwbp_bpf_filter>(no_filter || count_only_ ? filter : core::ValueFilter::every),
                     stack_bytes_, count_only_);
}

void BpfDelivery::chunk_mapped(const core::Chunk& chunk, core::WatchId watch, unsigned part) {
  program_.add_chunk(chunk.addr, chunk.len, static_cast<std::uint32_t>(chunk.type), watch.value, part);
}

void BpfDelivery::chunk_unmapped(const core::Chunk& chunk, core::WatchId watch) {
  program_.remove_chunk(chunk.addr, chunk.len, static_cast<std::uint32_t>(chunk.type), watch.value);
}

void BpfDelivery::chunks_cleared() { program_.clear_chunks(); }

void BpfDelivery::forget_shadow(core::WatchId watch) {
  program_.set_shadow(watch.value, std::nullopt);
  restart(watch, std::nullopt);
}

void BpfDelivery::seed_shadow(core::WatchId watch, const Bytes& bytes) {
  program_.set_shadow(watch.value, bytes);
  restart(watch, bytes);
}

void BpfDelivery::restart(core::WatchId watch, std::optional<Bytes> at_arming) {
  // The hits of the previous arming first: they lie before it.
  poll(kAll);
  Order& o = orders_[watch];
  advance(o, watches_.contains(watch) ? &watches_.at(watch) : nullptr, true, true);
  o.sequencer.restart(std::move(at_arming), watches_.contains(watch) ? watches_.at(watch).len : 0, sink_);
  o.thread_mark.clear();
  o.cpu_mark.clear();
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
    // ring_empty: what is missing now is not waiting in it. Hits waiting for a CPU that went
    // quiet, or for a record that never came, are resolved after their hold time.
    for (auto& [id, o] : orders_)
      if (watches_.contains(id) && (o.sequencer.pending() > 0 || !o.records.empty()))
        advance(o, &watches_.at(id), false, !more);
    if (budget != kAll && std::chrono::steady_clock::now() >= end) break;
  }
  next_drain_ = std::chrono::steady_clock::now() + (more ? std::chrono::milliseconds(0) : kDrainPeriod);
}

void BpfDelivery::flush() {
  poll(kAll);
  for (auto& [id, o] : orders_) advance(o, watches_.contains(id) ? &watches_.at(id) : nullptr, true, true);
  for (const auto& c : program_.take_counts())
    if (watches_.contains(core::WatchId{c.watch})) sink_.accept_count(core::WatchId{c.watch}, c.ip, c.hits);
  for (const auto& [watch, n] : program_.take_raced())
    if (watches_.contains(core::WatchId{watch})) sink_.counts_not_exact(core::WatchId{watch}, n);
}

void BpfDelivery::watch_ending(core::WatchId watch) {
  // Every record the ring holds now, then this watch's hits in order; a missing counter value
  // (a record not written yet, or lost) marks the values after it not exact (advance).
  poll(kAll);
  auto it = orders_.find(watch);
  if (it != orders_.end() && watches_.contains(watch)) advance(it->second, &watches_.at(watch), true, true);
}

void BpfDelivery::on_record(const hwbp_bpf_hit& hit, std::span<const std::uint8_t> stack) {
  const core::WatchId id{hit.watch};
  // Nothing more is reported (--max-hits, a failed output): the ring is only emptied, without
  // decoding and ordering what nobody will see (up to the whole ring at the detach).
  if (!watches_.contains(id) || sink_.done()) return;
  // No state check: the record exists because the watch was armed when it fired, and records
  // are still read after the events are closed (finish) or removed (execve).
  const Watch& w = watches_.at(id);
  if (w.spec.access == Access::exec || hit.seq_after == 0) {
    sink_.accept(event_of(w, hit, stack.data(), stack.size(), nullptr));
    return;
  }
  // The record waits for those of the counter values before it (another CPU's may come later).
  Order& o = orders_[id];
  o.read_ns = std::max<std::uint64_t>(o.read_ns, hit.time_ns);
  auto copy = std::make_shared<std::vector<std::uint8_t>>(stack.begin(), stack.end());
  o.records.emplace(hit.seq_before, Record{hit, std::move(copy)});
  for (std::uint64_t v : {hit.seq_before, hit.seq_after})
    if (v >= o.next) o.counted.insert(v);
  while (!o.counted.empty() && *o.counted.begin() == o.next) {
    o.counted.erase(o.counted.begin());
    ++o.next;
  }
  // Taken and settled once per batch read (poll): settling costs a pass over the waiting hits.
}

void BpfDelivery::advance(Order& o, const Watch* w, bool everything, bool ring_empty) {
  StoreSequencer& seq = o.sequencer;
  const std::uint64_t now = now_ns();
  while (!o.records.empty() && w != nullptr) {
    auto it = o.records.begin();
    if (it->first > o.next) {
      // A counter value below this record is missing: a record still being written, or lost.
      if (o.gap_since_ns == 0) o.gap_since_ns = now;
      if (!everything && !gap_is_lost(o, it->second.hit.time_ns, ring_empty, now)) break;
      // Lost: a store nobody saw lies somewhere after the settled hits.
      seq.poison();
      o.next = it->first;
      while (!o.counted.empty() && *o.counted.begin() <= o.next) {
        if (*o.counted.begin() == o.next) ++o.next;
        o.counted.erase(o.counted.begin());
      }
    }
    o.gap_since_ns = 0;
    Record r = std::move(it->second);
    o.records.erase(it);
    take(o, *w, r);
  }
  if (everything) {
    if (!o.awaiting.empty()) seq.observe(std::nullopt, now);  // their reads overlapped: no observation after
    for (auto& [h, bounds] : o.awaiting) seq.add(std::move(h), bounds.first, seq.last(), std::move(bounds.second));
    o.awaiting.clear();
    seq.settle_all(sink_);
    return;
  }
  // Settle what lies before the observation every CPU has moved past, or that is old enough.
  StoreSequencer::Mark cut = seq.last();
  for (std::uint32_t cpu = 0; cpu < cpus_; ++cpu) {
    auto m = o.cpu_mark.find(cpu);
    cut = std::min(cut, m == o.cpu_mark.end() ? seq.base() : m->second);
  }
  if (ring_empty) {
    // A store still to come is also after its thread's previous hit: once every live thread
    // of the process has one past the cut, so is every store (a program with one writing
    // thread, or at its last thread's exit, settles here at once).
    if (cut < seq.last()) {
      StoreSequencer::Mark by_threads = seq.last();
      bool any = false;
      std::vector<pid_t> live;
      try {
        live = perf::list_threads(symbolizer_.image()->pid());
      } catch (const std::exception&) {  // the process is gone: nothing to bound by
      }
      for (pid_t tid : live) {
        auto m = o.thread_mark.find(static_cast<std::uint32_t>(tid));
        by_threads = std::min(by_threads, m == o.thread_mark.end() ? seq.base() : m->second);
        any = true;
      }
      if (any) cut = std::max(cut, by_threads);
    }
    while (cut < seq.last() && seq.time_of(cut + 1) + kHoldNs < now) ++cut;
  }
  // The same bound in the kernel's time, while the ring is still full of records (a program that
  // writes without pause: the ring never empties): every store made before an observation took
  // its counter value within kHoldNs after it, before the counter value of a record taken
  // 2 * kHoldNs after it (its time is read within kHoldNs of its counter value): such a store's
  // record is taken already (or known lost). Settled through such an observation even where
  // waiting hits span it (writers on several CPUs chain their spans without end): without this,
  // a CPU that never ran a writer, or two writers that never paused, held back every hit until
  // the program paused: nothing was reported, and the hits piled up to be resolved all at once
  // at the detach (minutes in the test VM: attach_test.bpf hung, output_failure_test.bpf took
  // 254 s for its first hit).
  StoreSequencer::Mark through = seq.base();
  while (through < seq.last() && seq.time_of(through + 1) + 2 * kHoldNs < o.taken_ns) ++through;
  // A hit whose read overlapped another's waits for the next observation; its store lies after
  // its own bound, which nothing may be settled past.
  for (const auto& waiting : o.awaiting) {
    cut = std::min(cut, waiting.second.first);
    through = std::min(through, waiting.second.first);
  }
  seq.settle(cut, sink_);
  // In steps of a quarter of the hold at least: each costs a pass over the waiting hits.
  if (through > seq.base() && seq.time_of(through) >= seq.time_of(seq.base() + 1) + kHoldNs / 4)
    seq.settle_through(through, sink_);
}

bool BpfDelivery::gap_is_lost(const Order& o, std::uint64_t next_record_ns, bool ring_empty, std::uint64_t now) const {
  // The ring is read to its end and the record has not come for kHoldNs: it never will.
  if (ring_empty && o.gap_since_ns + kHoldNs <= now) return true;
  // A BPF ring is read in the order of its reservations, and a record that is reserved but not
  // yet committed stops the reader (kernel/bpf/ringbuf.c: the busy bit; libbpf's
  // ringbuf_process_ring). The missing record took its counter value before the record after
  // the gap took its own (before next_record_ns), so it was reserved (or refused: ring full)
  // by next_record_ns + kHoldNs; a record read that was made later than that was reserved after
  // it: had the missing one been written, it would have been read before. It was lost.
  return next_record_ns + kHoldNs < o.read_ns;
}

void BpfDelivery::take(Order& o, const Watch& w, const Record& r) {
  StoreSequencer& seq = o.sequencer;
  const hwbp_bpf_hit& hit = r.hit;
  HitEvent h = event_of(w, hit, r.stack->data(), r.stack->size(), r.stack);
  h.value_filtered = false;  // filtered on the exact values, by the sink
  // What the instruction did, from the registers in the record.
  core::StoreEffect effect;
  if (const symbols::DecodedInstruction* insn = symbolizer_.accessing_instruction(hit.regs[HWBP_BPF_REG_RIP]);
      insn != nullptr && !insn->bytes.empty()) {
    decode::Registers regs = decode::from_dwarf(reinterpret_cast<const std::uint64_t*>(hit.regs), hit.rflags);
    regs.fs_base = hit.fs_base;
    effect = decode::effect_on_watch(decode::stored_value_after(insn->bytes, insn->address, regs, {}), w.addr,
                                     w.len, hit.rflags);
  }
  auto mark_of = [&](const std::map<std::uint32_t, StoreSequencer::Mark>& marks, std::uint32_t key) {
    auto m = marks.find(key);
    return m == marks.end() ? seq.base() : m->second;
  };
  // The store lies after this thread's and this CPU's previous hit (their reads).
  const StoreSequencer::Mark after = std::max(mark_of(o.thread_mark, hit.tid), mark_of(o.cpu_mark, hit.cpu));
  if (hit.seq_after == hit.seq_before + 1) {
    // No other read between: an observation, in the order of the stores.
    const StoreSequencer::Mark mark = seq.observe(h.new_bytes, hit.time_ns);
    for (auto& [waiting, bounds] : o.awaiting) seq.add(std::move(waiting), bounds.first, mark, std::move(bounds.second));
    o.awaiting.clear();
    seq.add(std::move(h), after, mark, std::move(effect));
  } else {
    // Its read overlapped another's: the store lies before the next observation.
    o.awaiting.push_back({std::move(h), {after, std::move(effect)}});
  }
  o.thread_mark[hit.tid] = o.cpu_mark[hit.cpu] = seq.last();
  o.taken_ns = std::max<std::uint64_t>(o.taken_ns, hit.time_ns);
}

HitEvent BpfDelivery::event_of(const Watch& w, const hwbp_bpf_hit& hit, const std::uint8_t* stack, std::size_t size,
                               std::shared_ptr<std::vector<std::uint8_t>> keep) {
  const core::WatchId id = w.id;
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
  snap.bytes = stack;
  snap.size = size;
  symbols::ProcessImage& image = *symbolizer_.image();
  // The stack is the record's (valid during on_record only, when the sink unwinds it) or `keep`.
  h.unwind = [&image, snap, keep](std::size_t depth) { return symbols::backtrace_snapshot(image, snap, depth); };
  return h;
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
