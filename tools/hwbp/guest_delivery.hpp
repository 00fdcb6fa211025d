// The delivery of `hwbp vm`: arms the watches of a WatchSet in a KVM guest through hwbp::kvm
// (debug registers where the backend reports data hits and slots are free, the library's
// write-trap watches otherwise: any number, any length) and turns the library's events into
// HitEvents for the one acceptance path (hit_acceptance.hpp) — the same filters, reports and
// counts as `hwbp run`. Mapping of a kvm::Event:
//   watch            -> HitEvent::watch (the WatchSet id the kvm watch was armed for)
//   vcpu             -> HitEvent::tid (reported as thread "vcpuN")
//   pc               -> HitEvent::pc; data hits: the instruction after the access (after_access)
//   old/new bytes    -> the whole watch's bytes: the store's bytes inside the watch's current
//                       contents (a store covers at most 8 bytes of a longer watch)
//   stack            -> guest frame pointers (EBP/RBP chain) read from guest memory
// With counts_only (--count and no per-hit filter: report_options.hpp) a hit is one increment of
// its (watch, pc) count and nothing else — no guest memory read, no symbols, no allocation once
// the pair has been seen; flush_counts() hands the totals to the sink (HitSink::accept_count).
// The library has applied the value filter of modify watches already (hwbp::kvm's events).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "delivery.hpp"
#include "hwbp/kvm.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {

class GuestDelivery {
 public:
  // word_bytes: 4 for a 32-bit guest (frame pointers are 4 bytes), 8 for a 64-bit one.
  GuestDelivery(hwbp::kvm::GuestDebugger& debugger, WatchSet& watches, HitSink& sink, unsigned word_bytes,
                hwbp::kvm::Engine data_engine, bool counts_only = false)
      : debugger_(debugger),
        watches_(watches),
        sink_(sink),
        word_bytes_(word_bytes),
        data_engine_(data_engine),
        counts_only_(counts_only) {}

  // Arms every resolved watch, all or nothing (the library refuses the whole set with the reason,
  // e.g. a fifth execute breakpoint). Sets each Watch's state, and its mechanism text
  // ("debug register DR0", "write trap (1 guest page)").
  void arm();
  // The events of one stop: the hits of our watches go to the sink.
  void deliver(std::span<const hwbp::kvm::Event> events);
  // After --max-hits: every watch removed, the guest runs on undisturbed.
  void disarm();
  // counts_only: the counts so far go to the sink (and start again from 0).
  void flush_counts();

 private:
  struct PcCount {
    core::WatchId watch;
    std::uint64_t pc;
    std::uint64_t n;
  };
  const core::WatchId* watch_of(hwbp::kvm::WatchId id) const;
  void count(core::WatchId watch, std::uint64_t pc);
  HitEvent to_hit(const Watch& w, const hwbp::kvm::Event& e);
  std::vector<symbols::Frame> frames(unsigned vcpu, std::uint64_t pc, bool at_breakpoint, std::size_t depth);
  std::uint64_t read_word(unsigned vcpu, std::uint64_t addr);

  hwbp::kvm::GuestDebugger& debugger_;
  WatchSet& watches_;
  HitSink& sink_;
  unsigned word_bytes_;
  hwbp::kvm::Engine data_engine_;
  bool counts_only_;
  // Few watches: a flat list searched in order beats a map's allocations and pointer chasing.
  std::vector<std::pair<hwbp::kvm::WatchId, core::WatchId>> ids_;
  std::vector<PcCount> counts_;  // counts_only: one entry per (watch, pc) seen
  std::size_t last_count_ = 0;   // the entry the previous hit went to (loops hit one pc)
};

// "debug register DR1", "debug registers DR0, DR1", "write trap (2 guest pages)".
std::string mechanism_text(const hwbp::kvm::WatchInfo& info);

}  // namespace hwbp::cli
