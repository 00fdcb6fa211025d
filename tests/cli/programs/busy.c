/* Two threads write `hot` as fast as they can for argv[1] seconds (default 2) — and each at least
   argv[2] times (default 0), so a test that needs N hits gets them however slow the machine (the
   emulated test VM on a loaded host) — then the program prints "busy done" and exits 0: a target
   for detaching while hits are in flight. `busy signal` runs until it gets SIGUSR1 instead, so a
   test attaching to it never races its end, however slow the machine. */
#include <pthread.h>
#include "spawn.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile long hot = 0;
static volatile int stop = 0;
static long min_writes = 0;

static void* writer(void* arg) {
  long base = (long)arg;
  for (long i = 0; !stop || i < min_writes; ++i) {
    hot = base + i; /* LINE-HOT */
    for (volatile int spin = 0; spin < 200; ++spin) {
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  double secs = argc > 1 ? atof(argv[1]) : 2.0;
  min_writes = argc > 2 ? atol(argv[2]) : 0;
  int until_signal = argc > 1 && strcmp(argv[1], "signal") == 0;
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  if (until_signal) pthread_sigmask(SIG_BLOCK, &usr1, NULL); /* the writers inherit the mask */
  pthread_t a, b;
  spawn(&a, writer, (void*)1000000L);
  spawn(&b, writer, (void*)2000000L);
  printf("pid %d\n", (int)getpid());
  fflush(stdout);
  if (until_signal) {
    int sig;
    sigwait(&usr1, &sig);
  } else {
    struct timespec ts = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
    nanosleep(&ts, NULL);
  }
  stop = 1;
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("busy done\n");
  return 0;
}
