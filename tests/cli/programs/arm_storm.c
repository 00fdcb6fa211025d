/* A target for arming while threads come and go (issue 12), with a ground truth to check hits
   against. Spawner threads create short-lived threads without pause (each lives 0-20 ms); while
   recording is on, every such thread writes storm_block[0] every 2 ms and counts each write in
   `written` (not watched).
   Control: SIGUSR1 turns recording on; SIGUSR2 turns it off, waits for the writes in flight and
   prints "written N" (the writes since the previous SIGUSR2), then starts counting afresh.
   Prints "pid N" at start; runs for argv[1] seconds (default 60), argv[2] spawners (default 2).
   storm_block is 32 bytes, 32-byte aligned: a watch on all of it takes the four debug-register
   slots a thread has on x86, so a thread carrying a second copy of an event cannot arm. */
#include <pthread.h>
#include "spawn.h"
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

volatile long storm_block[4] __attribute__((aligned(32)));
static atomic_long written;
static atomic_int recording;
static atomic_int in_flight;
static volatile int stop;

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void* worker(void* arg) {
  long life = (long)(size_t)arg;  /* in 2 ms steps */
  for (long i = 0; i < life; ++i) {
    atomic_fetch_add(&in_flight, 1);
    if (atomic_load(&recording)) {
      storm_block[0] = storm_block[0] + 1;  /* a plain load and store: one write */
      atomic_fetch_add(&written, 1);
    }
    atomic_fetch_sub(&in_flight, 1);
    pause_ms(2);
  }
  return NULL;
}

static void* spawner(void* arg) {
  unsigned seed = (unsigned)(size_t)arg;
  while (!stop) {
    pthread_t t;
    long life = rand_r(&seed) % 11;
    spawn(&t, worker, (void*)(size_t)life);
    pthread_join(t, NULL);
  }
  return NULL;
}

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? atoi(argv[1]) : 60;
  const int spawners = argc > 2 ? atoi(argv[2]) : 2;
  sigset_t control;
  sigemptyset(&control);
  sigaddset(&control, SIGUSR1);
  sigaddset(&control, SIGUSR2);
  sigaddset(&control, SIGALRM);
  pthread_sigmask(SIG_BLOCK, &control, NULL);  /* every thread inherits it: main takes them */
  pthread_t s[64];
  int n = spawners < 64 ? spawners : 64;
  for (int i = 0; i < n; ++i) spawn(&s[i], spawner, (void*)(size_t)(i + 1));
  printf("pid %d\n", (int)getpid());
  fflush(stdout);
  alarm((unsigned)seconds);
  for (;;) {
    int sig = 0;
    if (sigwait(&control, &sig) != 0) continue;
    if (sig == SIGALRM) break;
    if (sig == SIGUSR1) {
      atomic_store(&recording, 1);
      continue;
    }
    atomic_store(&recording, 0);
    while (atomic_load(&in_flight) != 0) pause_ms(1);
    printf("written %ld\n", atomic_exchange(&written, 0));
    fflush(stdout);
  }
  stop = 1;
  for (int i = 0; i < n; ++i) pthread_join(s[i], NULL);
  return 0;
}
