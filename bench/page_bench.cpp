// The page-protection engine (in-process) against the raw kernel mechanisms it is built from,
// measured in the same run:
//  - a trapped store resolved by emulation vs a raw SIGSEGV + mprotect round trip (own handler:
//    fault, make writable, store, make read-only again — the cheapest unexact alternative);
//  - a trapped store resolved by a displaced step vs a raw TF single-step round trip;
//  - a trapped store vs a raw sigtrap hardware hit (printed only where debug exceptions are
//    delivered: issue 15's "<= 10x a hardware hit");
//  - a store to an unwatched byte of a protected page, with 1, 2, 4 and 8 threads storing.
#include <benchmark/benchmark.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "page/engine.hpp"
#include "perf/hit_delivery.hpp"
#include "ratio.hpp"

extern "C" int __sigaction(int, const struct sigaction*, struct sigaction*);

namespace {

struct alignas(4096) BenchPage {
  std::uint64_t watched[2];
  std::uint64_t neighbours[64];
  std::uint8_t rest[4096 - 16 - 512];
};
BenchPage g_page;
alignas(4096) std::uint8_t g_long[16 * 1024];
alignas(4096) std::uint64_t g_raw_page[512];
alignas(64) volatile std::uint64_t g_hw_var = 0;

std::uint64_t arm_page(std::uintptr_t addr, std::size_t len) {
  hwbp::page::PageWatchOptions o;
  o.addr = addr;
  o.len = len;
  o.access = hwbp::Access::write;
  o.callback = [](const hwbp::page::PageHit& h) { benchmark::DoNotOptimize(h.len); };
  return hwbp::page::arm(o);
}

void BM_PageStoreEmulated(benchmark::State& state) {
  std::uint64_t id = arm_page(reinterpret_cast<std::uintptr_t>(&g_page.watched[0]), 8);
  volatile std::uint64_t* p = &g_page.watched[0];
  std::uint64_t i = 0;
  for (auto _ : state) *p = ++i;
  hwbp::page::disarm(id);
}
BENCHMARK(BM_PageStoreEmulated);

void BM_PageStoreDisplaced(benchmark::State& state) {
  std::uint64_t id = arm_page(reinterpret_cast<std::uintptr_t>(&g_page.watched[0]), 8);
  for (auto _ : state) asm volatile("lock addq $1, %0" : "+m"(g_page.watched[0]) : : "cc");
  hwbp::page::disarm(id);
}
BENCHMARK(BM_PageStoreDisplaced);

// Issue 15: a store on a 16 KiB watch (the GDB software-watchpoint comparison point).
void BM_PageStoreOn16KiBWatch(benchmark::State& state) {
  std::uint64_t id = arm_page(reinterpret_cast<std::uintptr_t>(g_long), sizeof g_long);
  std::size_t off = 0;
  for (auto _ : state) {
    *reinterpret_cast<volatile std::uint64_t*>(g_long + off) = off;
    off = (off + 4104) % (sizeof g_long - 8);
  }
  hwbp::page::disarm(id);
}
BENCHMARK(BM_PageStoreOn16KiBWatch);

// Stores to unwatched bytes of a protected page, each thread its own neighbour slot.
std::atomic<std::uint64_t> g_unwatched_id{0};
void BM_PageUnwatchedStore(benchmark::State& state) {
  if (state.thread_index() == 0) g_unwatched_id = arm_page(reinterpret_cast<std::uintptr_t>(&g_page.watched[0]), 8);
  while (g_unwatched_id.load() == 0) {
  }
  volatile std::uint64_t* mine = &g_page.neighbours[state.thread_index() * 8];
  std::uint64_t i = 0;
  for (auto _ : state) *mine = ++i;
  if (state.thread_index() == 0) {
    hwbp::page::disarm(g_unwatched_id.load());
    g_unwatched_id = 0;
  }
}
BENCHMARK(BM_PageUnwatchedStore)->Threads(1)->Threads(2)->Threads(4)->Threads(8)->UseRealTime();

// ---- raw baselines (own handlers installed with glibc's __sigaction: no library code) ----
void raw_segv(int, siginfo_t* si, void*) {
  auto page = reinterpret_cast<std::uintptr_t>(si->si_addr) & ~std::uintptr_t(4095);
  syscall(SYS_mprotect, page, 4096, PROT_READ | PROT_WRITE);
}

void BM_RawSegvMprotectRoundTrip(benchmark::State& state) {
  struct sigaction act {}, old {};
  act.sa_sigaction = raw_segv;
  act.sa_flags = SA_SIGINFO | SA_NODEFER;
  __sigaction(SIGSEGV, &act, &old);
  volatile std::uint64_t* p = &g_raw_page[1];
  std::uint64_t i = 0;
  for (auto _ : state) {
    syscall(SYS_mprotect, g_raw_page, 4096, PROT_READ);
    *p = ++i;  // faults; the handler makes it writable; the store completes
  }
  __sigaction(SIGSEGV, &old, nullptr);
}
BENCHMARK(BM_RawSegvMprotectRoundTrip);

void raw_step(int, siginfo_t*, void* uc) {
  static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_EFL] &= ~0x100;
}

void BM_RawSingleStep(benchmark::State& state) {
  struct sigaction act {}, old {};
  act.sa_sigaction = raw_step;
  act.sa_flags = SA_SIGINFO | SA_NODEFER;
  __sigaction(SIGTRAP, &act, &old);
  for (auto _ : state) {
    // Set TF: the instruction after popf traps once; the handler clears TF.
    asm volatile("pushfq\n orq $0x100, (%%rsp)\n popfq\n nop" : : : "cc", "memory");
  }
  __sigaction(SIGTRAP, &old, nullptr);
}
BENCHMARK(BM_RawSingleStep);

std::atomic<std::uint64_t> g_hw_signals{0};
void raw_hw(int, siginfo_t*, void*) { g_hw_signals.fetch_add(1, std::memory_order_relaxed); }

// The hardware-hit baseline: skipped (no ratio printed) where debug exceptions are not delivered.
void BM_PageBaselineRawSigtrapHit(benchmark::State& state) {
  if (hwbp::perf::hit_delivery().state != hwbp::perf::HitDelivery::State::delivered)
    return state.SkipWithError("debug exceptions are not delivered on this machine: no hardware-hit baseline");
  struct sigaction act {}, old {};
  act.sa_sigaction = raw_hw;
  act.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
  __sigaction(SIGTRAP, &act, &old);
  perf_event_attr a{};
  a.type = PERF_TYPE_BREAKPOINT;
  a.size = sizeof a;
  a.bp_type = HW_BREAKPOINT_W;
  a.bp_addr = reinterpret_cast<std::uintptr_t>(&g_hw_var);
  a.bp_len = 8;
  a.sample_period = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  a.sigtrap = 1;
  int fd = static_cast<int>(syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) {
    __sigaction(SIGTRAP, &old, nullptr);
    return state.SkipWithError("perf_event_open(sigtrap) failed");
  }
  std::uint64_t i = 0;
  for (auto _ : state) g_hw_var = ++i;
  close(fd);
  __sigaction(SIGTRAP, &old, nullptr);
}
BENCHMARK(BM_PageBaselineRawSigtrapHit);

}  // namespace

HWBP_RATIO("page_emulated_store/raw_segv_mprotect_round_trip", "BM_PageStoreEmulated", "BM_RawSegvMprotectRoundTrip");
HWBP_RATIO("page_displaced_store/raw_single_step", "BM_PageStoreDisplaced", "BM_RawSingleStep");
HWBP_RATIO("page_store_16KiB_watch/raw_segv_mprotect_round_trip", "BM_PageStoreOn16KiBWatch", "BM_RawSegvMprotectRoundTrip");
HWBP_RATIO("page_emulated_store/raw_sigtrap_hit", "BM_PageStoreEmulated", "BM_PageBaselineRawSigtrapHit");
HWBP_RATIO("page_displaced_store/raw_sigtrap_hit", "BM_PageStoreDisplaced", "BM_PageBaselineRawSigtrapHit");
HWBP_RATIO("page_unwatched_store_2_threads/1_thread", "BM_PageUnwatchedStore/real_time/threads:2", "BM_PageUnwatchedStore/real_time/threads:1");
HWBP_RATIO("page_unwatched_store_4_threads/1_thread", "BM_PageUnwatchedStore/real_time/threads:4", "BM_PageUnwatchedStore/real_time/threads:1");
HWBP_RATIO("page_unwatched_store_8_threads/1_thread", "BM_PageUnwatchedStore/real_time/threads:8", "BM_PageUnwatchedStore/real_time/threads:1");
