// Demo: who writes `g_balance`? Four worker threads update a shared variable; one of them has
// a bug and zeroes it. A process-wide 'modify' watch reports every change with the writing
// thread, the old and new value and the instruction address — from inside the process, without
// stopping anything: on the debug registers at hardware speed, or, where the machine delivers no
// debug exceptions (some hypervisors), by page protection; the demo says which.
#include <hwbp/hwbp.hpp>
#include <hwbp/signal_safe.hpp>

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

volatile long g_balance = 100;
std::atomic<int> g_zeroed_by{0};

// Runs in a signal handler of the writing thread (SIGTRAP, or SIGSEGV for page protection):
// async-signal-safe output only.
void report(const hwbp::Hit& hit) {
  hwbp::signal_safe::Line line;
  line.str("hit: thread ").dec(static_cast<std::uint64_t>(hit.tid)).str(" changed g_balance ")
      .sdec(static_cast<std::int64_t>(hit.old_value)).str(" -> ")
      .sdec(static_cast<std::int64_t>(hit.new_value)).str("  (ip ").hex(hit.ip).str(")");
  if (hit.new_value == 0) {
    line.str("   <-- zeroed!");
    g_zeroed_by.store(hit.tid);
  }
  line.write(STDOUT_FILENO);
}

std::mutex g_lock;  // deposits are serialised, so every change is a separate, visible write

__attribute__((noinline)) void deposit(long amount) {
  std::lock_guard<std::mutex> guard(g_lock);
  g_balance = g_balance + amount;
}
__attribute__((noinline)) void buggy_reset() { g_balance = 0; }

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // interleave with the handler's write(2) in order
  std::printf("hwbp demo: %u debug-register slots per thread on this machine\n",
              hwbp::slots_per_thread());
  // Threads that exist before the watch is armed...
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  for (int i = 0; i < 2; ++i)
    workers.emplace_back([&go, i] {
      while (!go.load()) std::this_thread::yield();
      for (int k = 0; k < 3; ++k) deposit(10 * (i + 1));
    });
  hwbp::Watch watch;
  try {
    watch = hwbp::watch(g_balance, hwbp::Access::modify, report);
  } catch (const hwbp::Error& e) {
    std::fprintf(stderr, "hwbp demo: %s\n", e.what());
    go = true;
    for (auto& t : workers) t.join();
    return 1;
  }
  std::printf("watching g_balance at %p (%zu bytes) in every thread\nengine: %s\n",
              static_cast<void*>(const_cast<long*>(&g_balance)), sizeof g_balance,
              watch.describe().c_str());
  go = true;
  for (auto& t : workers) t.join();
  // ...and threads created after it.
  std::thread late([] { deposit(5); });
  late.join();
  std::thread culprit([] { buggy_reset(); });
  std::printf("culprit thread started\n");
  culprit.join();
  g_balance = g_balance;  // same value: a write, but not a modification — not reported
  std::printf("%llu changes reported; g_balance was zeroed by thread %d\n",
              static_cast<unsigned long long>(watch.hits()), g_zeroed_by.load());
  return g_zeroed_by.load() != 0 ? 0 : 1;
}
