// Issue 12: the CLI arming a watch on every thread of a traced process that creates and destroys
// threads without pause. A thread created while the threads were listed could get a second copy
// of an event (its creator's inherited one, and one opened on it by the re-scan): with a watch
// that takes every slot of a thread that second copy does not fit, and arming failed with ENOSPC
// about one time in three. SlotArming now opens its events with every thread stopped
// (Tracer::with_all_stopped). Real parts: a forked thread storm, the real tracer, real perf
// events (the kernel accounts the slots even on machines whose debug registers never fire).
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "hit_acceptance.hpp"
#include "hwbp/error.hpp"
#include "perf/capabilities.hpp"
#include "ptrace_delivery.hpp"
#include "slot_arming.hpp"
#include "symbols/process_image.hpp"
#include "symbols/symbol_table.hpp"
#include "tracer.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {
namespace {

alignas(32) volatile std::uint64_t g_block[4];  // 32 bytes: four 8-byte chunks, every slot

void* short_lived(void*) { return nullptr; }

void* spawner(void*) {
  for (;;) {
    pthread_t t;
    if (pthread_create(&t, nullptr, short_lived, nullptr) == 0) pthread_join(t, nullptr);
  }
  return nullptr;
}

// The traced program: four spawners creating threads until it is killed.
[[noreturn]] void thread_storm() {
  for (int i = 0; i < 4; ++i) {
    pthread_t t;
    pthread_create(&t, nullptr, spawner, nullptr);
  }
  for (;;) pause();
}

// The tracer's questions, for a program in which nothing is ever hit (nothing writes g_block).
struct QuietHandler : TraceHandler {
  bool owns(const siginfo_t&) const override { return false; }
  void on_trap(pid_t, const siginfo_t&) override {}
  void on_exec(pid_t) override {}
  bool done() const override { return false; }
};

TEST(CliArmingStorm, EveryThreadCarriesEachEventOnceWhileThreadsComeAndGo) {
  const auto& caps = perf::capabilities();
  if (!caps.breakpoints) GTEST_SKIP() << "perf breakpoint events cannot be opened here (errno " << caps.open_errno << ")";
  if (caps.slots != 4) GTEST_SKIP() << "this test expects the 4 slots of an x86 thread, not " << caps.slots;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) thread_storm();
  struct Reap {
    pid_t pid;
    ~Reap() {
      ::kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reap{child};

  Tracer tracer = Tracer::attach(child);
  QuietHandler handler;
  auto image = symbols::ProcessImage::open(child);
  symbols::SymbolTable table(image);
  const WatchSpec spec = parse_watch_spec(fmt::format("{:#x}:32:w", reinterpret_cast<std::uintptr_t>(&g_block[0])));
  // One arming of the watch on every thread, as `hwbp attach` does (the session's parts).
  auto arm_once = [&]() -> std::string {
    WatchSet watches({spec});
    Symbolizer symbolizer;
    symbolizer.set_image(image);
    Reporter reporter(Format::json, stderr, false);
    HitAcceptor acceptor(AcceptanceOptions{}, watches, symbolizer, reporter);
    PtraceDelivery delivery(watches, symbolizer, acceptor);
    SlotArming arming(child, watches, delivery);
    delivery.set_arming(&arming);
    arming.set_all_threads_stopped([&](const std::function<void()>& fn) { tracer.with_all_stopped(fn); });
    watches.resolve(table);
    try {
      arming.arm_resolved();
    } catch (const Error& e) {
      return e.what();
    }
    arming.close_all();
    return "";
  };
  constexpr int kRounds = 40;
  int armed = 0;
  std::string failure;
  for (int round = 1; round <= kRounds && failure.empty(); ++round) {
    // The program runs (the stop loop lets its clone events through), then is armed from an
    // interrupt stop of one thread while the others create threads, as `hwbp attach` arms.
    tracer.run(handler, std::chrono::steady_clock::now() + std::chrono::milliseconds(20));
    tracer.with_stopped_thread(handler, [&](pid_t) {
      if (std::string e = arm_once(); !e.empty()) failure = fmt::format("round {}: {}", round, e);
      else ++armed;
    });
  }
  tracer.detach(handler);
  EXPECT_EQ(armed, kRounds) << failure;
}

}  // namespace
}  // namespace hwbp::cli
