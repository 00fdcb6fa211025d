// Helper program for the process-level tests. Modes:
//   --print-addr     print the address of g_target (run with ASLR off to get a fixed address)
//   N                write g_target N times; exit 3 if any SIGTRAP arrived (a watch survived exec)
//   --chain-before   install a SIGTRAP handler *before* hwbp does, then arm a watch: both the
//                    program's SIGTRAPs and hwbp's hits must reach their owners
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "hwbp/hwbp.hpp"

static volatile long g_target = 0;
static volatile sig_atomic_t g_traps = 0;

static void on_trap(int) { g_traps = g_traps + 1; }

static int chain_before() {
  struct sigaction act {};
  act.sa_handler = on_trap;
  sigaction(SIGTRAP, &act, nullptr);
  hwbp::Watch w = hwbp::watch(g_target, hwbp::Access::write, [](const hwbp::Hit&) {});
  raise(SIGTRAP);
  g_target = 1;
  g_target = 2;
  bool ok = g_traps == 1 && w.hits() == 2;
  std::printf("traps=%d hits=%llu\n", static_cast<int>(g_traps),
              static_cast<unsigned long long>(w.hits()));
  return ok ? 0 : 4;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--print-addr") == 0) {
    std::printf("%p\n", static_cast<void*>(const_cast<long*>(&g_target)));
    return 0;
  }
  if (argc > 1 && std::strcmp(argv[1], "--chain-before") == 0) return chain_before();
  signal(SIGTRAP, on_trap);
  int writes = argc > 1 ? std::atoi(argv[1]) : 1000;
  for (int i = 0; i < writes; ++i) g_target = i;
  std::printf("traps=%d\n", static_cast<int>(g_traps));
  return g_traps == 0 ? 0 : 3;
}
