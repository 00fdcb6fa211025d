// Shared helpers of the page engine tests: page-aligned memory and a signal-safe hit recorder.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "page/engine.hpp"

namespace hwbp::page::test {

// Anonymous read-write pages, unmapped at the end of the scope.
struct Pages {
  std::size_t size;
  std::uint8_t* p;
  explicit Pages(std::size_t pages) : size(pages * 4096) {
    p = static_cast<std::uint8_t*>(mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    std::memset(p, 0, size);
  }
  ~Pages() {
    if (p != nullptr) munmap(p, size);
  }
  std::uintptr_t at(std::size_t off) const { return reinterpret_cast<std::uintptr_t>(p + off); }
};

// Records hits in signal context (no allocation): the first kMax in full, all counted.
struct Recorder {
  static constexpr std::size_t kMax = 64;
  static constexpr std::size_t kBytes = 64;
  struct Rec {
    std::uint64_t watch_id;
    pid_t tid;
    std::uintptr_t addr, pc, next_ip;
    std::size_t len;
    std::uint8_t old_bytes[kBytes], new_bytes[kBytes];
    const char* syscall;
  };
  Rec recs[kMax];
  std::atomic<std::size_t> count{0};
  std::atomic<std::uint64_t> total_bytes{0};

  void add(const PageHit& h) {
    total_bytes += h.len;
    std::size_t i = count.fetch_add(1);
    if (i >= kMax) return;
    Rec& r = recs[i];
    r.watch_id = h.watch_id;
    r.tid = h.tid;
    r.addr = h.addr;
    r.pc = h.pc;
    r.next_ip = h.next_ip;
    r.len = h.len;
    r.syscall = h.syscall;
    std::memcpy(r.old_bytes, h.old_bytes, h.len < kBytes ? h.len : kBytes);
    std::memcpy(r.new_bytes, h.new_bytes, h.len < kBytes ? h.len : kBytes);
  }
  PageCallback callback() {
    return [this](const PageHit& h) { add(h); };
  }
  std::uint64_t u64_old(std::size_t i) const {
    std::uint64_t v = 0;
    std::memcpy(&v, recs[i].old_bytes, recs[i].len < 8 ? recs[i].len : 8);
    return v;
  }
  std::uint64_t u64_new(std::size_t i) const {
    std::uint64_t v = 0;
    std::memcpy(&v, recs[i].new_bytes, recs[i].len < 8 ? recs[i].len : 8);
    return v;
  }
};

// RAII page watch.
struct Armed {
  std::uint64_t id;
  explicit Armed(const PageWatchOptions& o) : id(arm(o)) {}
  ~Armed() { disarm(id); }
};

}  // namespace hwbp::page::test
