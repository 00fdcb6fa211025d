// The BPF delivery (`--mode bpf`, the fast mode; needs CAP_BPF + CAP_PERFMON): the watch events
// carry hwbp's BPF program (src/bpf/watch_hit.bpf.c), which runs in the kernel's #DB handler on
// the writing thread, reads the watched bytes there, applies the value filter
// (core::value_filter_for, mirrored in the kernel) and writes a record — registers, old/new
// bytes, a copy of the user stack — into a ring buffer. The program is never stopped. This
// delivery keeps the program's tables in step with the arming (watches, chunks, shadows) and
// turns the records into HitEvents.
//
// Records are read on a short timer (the program asks for no wakeup, which would cost every
// hit an irq_work) and at every ptrace stop that changes what the records mean: a dlopen, an
// execve, a thread's or the program's exit (the session calls poll / flush there).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>

#include "bpf/hit_program.hpp"
#include "delivery.hpp"
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
  std::uint64_t lost() const override { return program_.stats().lost; }
  void warn_lost() const override;

 private:
  void on_record(const hwbp_bpf_hit& hit, std::span<const std::uint8_t> stack);

  WatchSet& watches_;
  Symbolizer& symbolizer_;
  HitSink& sink_;
  bpf::HitProgram program_;
  std::uint32_t stack_bytes_;
  bool count_only_;
  TimePoint next_drain_{};
};

}  // namespace hwbp::cli
