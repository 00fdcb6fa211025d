/* A program with its own SIGTRAP handler: it raises SIGTRAP itself and must see exactly its own
   traps, never hwbp's. */
#include <signal.h>
#include <stdio.h>

int guarded = 0;
static volatile sig_atomic_t traps = 0;
static volatile sig_atomic_t foreign = 0;

static void on_trap(int sig, siginfo_t* info, void* ctx) {
  (void)sig; (void)ctx;
  if (info->si_code == 6 /* TRAP_PERF */) foreign = foreign + 1;
  traps = traps + 1;
}

int main(void) {
  struct sigaction sa = {0};
  sa.sa_sigaction = on_trap;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGTRAP, &sa, NULL);
  raise(SIGTRAP);
  guarded = 5; /* LINE-GUARDED-1 */
  raise(SIGTRAP);
  guarded = 6; /* LINE-GUARDED-2 */
  printf("traps=%d perf=%d\n", (int)traps, (int)foreign);
  return traps == 2 && foreign == 0 ? 0 : 1;
}
