// The BPF delivery (`--mode bpf`, the fast mode; needs CAP_BPF + CAP_PERFMON): the watch events
// carry hwbp's BPF program (src/bpf/watch_hit.bpf.c), which runs in the kernel's #DB handler on
// the writing thread, reads the watched bytes there, applies the value filter
// (core::value_filter_for, mirrored in the kernel) and writes a record — registers, old/new
// bytes, a copy of the user stack — into a ring buffer. The program is never stopped. This
// delivery keeps the program's tables in step with the arming (watches, chunks, shadows) and
// turns the records into HitEvents.
//
// Values under racing writers (issue 17): the program reads the bytes in the #DB handler, right
// after the access on that CPU, but another CPU may have stored since. So, as in the ptrace
// delivery, the new value comes from the instruction and the registers in the record, and the
// old one from the order of the stores (store_sequencer.hpp): records are taken in the order of
// the watch's counter (hit_record.h: seq_before/seq_after), a read no other hit's read
// overlapped is an observation of the bytes, a store lies after the previous hit of its
// thread and of its CPU (a CPU runs the #DB handler of a store before anything else: the trap
// has priority over interrupts), and what lies before the latest observation every CPU has
// moved past is resolved and reported, and so is what lies 100 ms before now (the ring read to
// its end) or, by the kernel's clock, 200 ms before the latest hit taken (records still waiting):
// a CPU that stopped, or never started, writing the watch holds nothing back longer. A counter
// value whose record a later one shows was never written (ring full) is a lost hit. The value
// filter (modify / r) is applied here, on the exact values, not in the kernel on the raced ones;
// --count counts in the kernel only the watches without a value filter.
//
// Records are read on a short timer (the program asks for no wakeup, which would cost every
// hit an irq_work) and at every ptrace stop that changes what the records mean: a dlopen, an
// execve, a thread's or the program's exit (the session calls poll / flush there).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <map>
#include <set>
#include <span>
#include <vector>

#include "bpf/hit_program.hpp"
#include "delivery.hpp"
#include "store_sequencer.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {

class BpfDelivery : public Delivery {
 public:
  // Loads the program; throws hwbp::Error (permission, unsupported) when this process cannot.
  // stack_bytes: user stack copied per hit. count_only: hits are counted per (watch, ip) in the
  // kernel, no records (--count without per-hit decisions).
  BpfDelivery(WatchSet& watches, Symbolizer& symbolizer, HitSink& sink, std::uint32_t stack_bytes,
              bool count_only);

  const char* mode() const noexcept override { return "bpf"; }
  bool uses_sigtrap() const noexcept override { return false; }
  void attach(const perf::Event& event) override;
  void watch_armed(const Watch& w) override;
  void chunk_mapped(const core::Chunk& chunk, core::WatchId watch, unsigned part) override;
  void chunk_unmapped(const core::Chunk& chunk, core::WatchId watch) override;
  void chunks_cleared() override;
  void forget_shadow(core::WatchId watch) override;
  void seed_shadow(core::WatchId watch, const Bytes& bytes) override;

  std::optional<TimePoint> next_poll() const override { return next_drain_; }
  void poll(std::chrono::milliseconds budget) override;
  void flush() override;
  void watch_ending(core::WatchId watch) override;
  std::uint64_t lost() const override { return program_.stats().lost; }
  void warn_lost() const override;

 private:
  // A record waiting for the records of the counter values before it.
  struct Record {
    hwbp_bpf_hit hit;
    std::shared_ptr<std::vector<std::uint8_t>> stack;
  };
  // One watch's records in the order of its stores.
  struct Order {
    StoreSequencer sequencer;
    std::map<std::uint64_t, Record> records;      // by seq_before, not yet taken
    std::set<std::uint64_t> counted;               // counter values seen above `next`
    std::uint64_t next = 0;                         // every counter value below it is seen
    std::uint64_t gap_since_ns = 0;                 // when the counter value `next` was first missed
    std::uint64_t read_ns = 0, taken_ns = 0;        // the latest kernel time of a record read, taken
    std::map<std::uint32_t, StoreSequencer::Mark> thread_mark, cpu_mark;
    // Hits whose own read overlapped another's: their store lies before the next observation.
    std::vector<std::pair<HitEvent, std::pair<StoreSequencer::Mark, core::StoreEffect>>> awaiting;
  };
  void on_record(const hwbp_bpf_hit& hit, std::span<const std::uint8_t> stack);
  void restart(core::WatchId watch, std::optional<Bytes> at_arming);
  // Takes the records whose counter values before them are all seen, then resolves what no
  // CPU can still store before (everything: all of it, at the end).
  // ring_empty: the ring was read to its end just now (a gap or a quiet CPU is not a record
  // still waiting in it), so the hold times may apply.
  void advance(Order& o, const Watch* w, bool everything, bool ring_empty);
  void take(Order& o, const Watch& w, const Record& r);
  // The counter value `next` belongs to a record that was lost (the ring was full), not to one
  // still being written; next_record_ns: the time of the record after the gap.
  bool gap_is_lost(const Order& o, std::uint64_t next_record_ns, bool ring_empty, std::uint64_t now) const;
  HitEvent event_of(const Watch& w, const hwbp_bpf_hit& hit, const std::uint8_t* stack, std::size_t size,
                    std::shared_ptr<std::vector<std::uint8_t>> keep);

  WatchSet& watches_;
  Symbolizer& symbolizer_;
  HitSink& sink_;
  bpf::HitProgram program_;
  std::uint32_t stack_bytes_;
  bool count_only_;
  TimePoint next_drain_{};
  std::map<core::WatchId, Order> orders_;
  std::uint32_t cpus_ = 1;
};

}  // namespace hwbp::cli
