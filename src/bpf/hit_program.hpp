// hwbp's BPF delivery: the program of watch_hit.bpf.c loaded with its maps, attached to
// breakpoint events, and the ring buffer of hit records it fills.
//
// Why BPF: with sigtrap, every hit costs a signal (and under ptrace two context switches to the
// tracer); the BPF program runs inside the #DB handler that the hardware hit already costs, so a
// reported hit is barely dearer than a counted one (bench/peers). It needs CAP_BPF + CAP_PERFMON
// (root): hwbp falls back to ptrace + sigtrap without them.
//
// Inherited events (inherit=1) carry the program into threads created later: the kernel copies
// the parent event's program to each child event (and its attr, by which the program knows
// which breakpoint hit: hit_record.h, "chunks").
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bpf/hit_record.h"

struct bpf_object;
struct ring_buffer;

namespace hwbp::bpf {

class HitProgram {
 public:
  // Loads the program with a ring buffer of ring_bytes (rounded up to a power of two pages).
  // Throws hwbp::Error (permission / unsupported / system) with a one-line explanation.
  explicit HitProgram(std::size_t ring_bytes = std::size_t{32} << 20);
  ~HitProgram();
  HitProgram(const HitProgram&) = delete;
  HitProgram& operator=(const HitProgram&) = delete;

  // PERF_EVENT_IOC_SET_BPF on a breakpoint event opened with sample_period 1 (and no sigtrap).
  void attach(int perf_fd);

  // What the program does for watch `index`: its bytes, the value filter, the stack to copy.
  // count_only: the program counts hits per (watch, ip) in the kernel instead of sending records.
  void set_watch(std::uint32_t index, std::uint64_t addr, std::uint32_t len, hwbp_bpf_filter filter,
                 std::uint32_t stack_bytes, bool count_only = false);
  // The "old" value of the next hit; nullopt = unknown.
  void set_shadow(std::uint32_t index, const std::optional<std::vector<std::uint8_t>>& bytes);
  // Hits of a breakpoint (address, length, HW_BREAKPOINT_* type) are reported for `watch`
  // (watches sharing the breakpoint in the order added); `part` is which of the watch's chunks
  // it is (< 32): one store over two chunks of a watch is then one hit, not two.
  void add_chunk(std::uint64_t addr, std::uint32_t len, std::uint32_t type, std::uint32_t watch,
                 std::uint32_t part = 0);
  void remove_chunk(std::uint64_t addr, std::uint32_t len, std::uint32_t type, std::uint32_t watch);
  void clear_chunks();

  // Consumes records in order, at most `max` (the program may write as fast as `fn` reads:
  // without a bound one call could last as long as the program runs); returns how many.
  using HitFn = std::function<void(const hwbp_bpf_hit& hit, std::span<const std::uint8_t> stack)>;
  std::size_t drain(const HitFn& fn, std::size_t max = SIZE_MAX);

  // The in-kernel counts of count_only watches, removed from the map as they are read.
  struct Count {
    std::uint32_t watch = 0;
    std::uint64_t ip = 0;  // trap ip
    std::uint64_t hits = 0;
  };
  std::vector<Count> take_counts();

  // Per watch, the hits of count_only watches with a value filter that raced with another
  // thread's (hit_record.h, "raced") since the previous call; only watches with some.
  std::map<std::uint32_t, std::uint64_t> take_raced();

  struct Stats {
    std::uint64_t seen = 0, filtered = 0, lost = 0, unmapped = 0, counts_full = 0;
  };
  Stats stats() const;

 private:
  static int on_record(void* ctx, void* data, std::size_t size);
  int map_fd(const char* name) const;
  using ChunkKey = std::tuple<std::uint64_t, std::uint32_t, std::uint32_t>;  // addr, len, type
  using ChunkWatches = std::vector<std::pair<std::uint32_t, std::uint32_t>>;  // (watch, part)
  void write_chunk(const ChunkKey& key, const ChunkWatches& list);

  bpf_object* object_ = nullptr;
  ring_buffer* ring_ = nullptr;
  int prog_fd_ = -1;
  std::map<ChunkKey, ChunkWatches> chunks_;  // mirror of the "chunks" map
  std::map<std::uint32_t, std::uint64_t> raced_taken_;  // "raced" values already taken
  const HitFn* current_ = nullptr;
  std::size_t taken_ = 0, max_ = 0;
  std::exception_ptr error_;
};

}  // namespace hwbp::bpf
