// Helper for exec/fork tests: writes a global many times and reports whether any SIGTRAP
// arrived (it installs a counting handler, so a stray watch would be seen, not fatal).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

static volatile long g_target = 0;
static volatile sig_atomic_t g_traps = 0;

static void on_trap(int) { g_traps = g_traps + 1; }

int main(int argc, char** argv) {
  signal(SIGTRAP, on_trap);
  int writes = argc > 1 ? std::atoi(argv[1]) : 1000;
  for (int i = 0; i < writes; ++i) g_target = i;
  std::printf("traps=%d\n", static_cast<int>(g_traps));
  return g_traps == 0 ? 0 : 3;
}
