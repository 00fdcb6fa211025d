/* Two writer threads: `open_counter` is written by a thread with the default signal mask,
   `blocked_counter` by a thread that blocks every signal first (as xz's worker threads do), so a
   perf SIGTRAP stays pending in it and no ptrace signal-delivery-stop ever comes.
   blocked_writer [OPEN BLOCKED]: that many writes each (default 1000 and 2000), then prints the
   ground truth "WRITES open N blocked M".
   blocked_writer OPEN BLOCKED SECONDS: writes for SECONDS (a write every 200 us; for `attach`),
   then the blocked writer unblocks every signal (a SIGTRAP of hwbp still pending would kill the
   program now) before the counts are printed.
   blocked_writer alternate ROUNDS: both threads write `shared_value` in turns (a semaphore
   handshake), the open one 1, 3, 5, ..., the blocked one 2, 4, 6, ...: the store of value v has
   old value v - 1, and in ptrace mode every open store after the first follows a store whose
   hit was lost (issue 17: its old value cannot be known exactly). Prints
   "WRITES alternate ROUNDS". */
#include <errno.h>
#include <pthread.h>
#include "spawn.h"
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile long open_counter = 0;
volatile long blocked_counter = 0;
volatile long shared_value = 0;
static long rounds_open = 1000, rounds_blocked = 2000;
static double seconds = 0;
static int alternate = 0;
static sem_t turn_of[2];  /* 0: the open writer's turn, 1: the blocked writer's */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Alternate mode: writer `who` (0 open, 1 blocked) writes 2i + 1 + who in its turn i. */
static void alternate_rounds(int who, long rounds) {
  for (long i = 0; i < rounds; ++i) {
    while (sem_wait(&turn_of[who]) != 0 && errno == EINTR) {
    }
    shared_value = 2 * i + 1 + who;
    sem_post(&turn_of[1 - who]);
  }
}

static long write_rounds(volatile long* counter, long rounds) {
  if (alternate) {
    alternate_rounds(counter == &blocked_counter, rounds);
    return rounds;
  }
  if (seconds <= 0) {
    for (long i = 0; i < rounds; ++i) *counter = i + 1;
    return rounds;
  }
  long n = 0;
  for (const double end = now() + seconds; now() < end; usleep(200)) *counter = ++n;
  return n;
}

static void* open_writer(void* arg) {
  (void)arg;
  rounds_open = write_rounds(&open_counter, rounds_open);
  return NULL;
}

static void* blocked_writer(void* arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  rounds_blocked = write_rounds(&blocked_counter, rounds_blocked);
  pthread_sigmask(SIG_UNBLOCK, &all, NULL);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "alternate") == 0) {
    alternate = 1;
    rounds_open = rounds_blocked = atol(argv[2]);
    sem_init(&turn_of[0], 0, 1);
    sem_init(&turn_of[1], 0, 0);
  } else if (argc > 2) {
    rounds_open = atol(argv[1]);
    rounds_blocked = atol(argv[2]);
  }
  if (argc > 3) seconds = atof(argv[3]);
  pthread_t a, b;
  spawn(&a, open_writer, NULL);
  spawn(&b, blocked_writer, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  if (alternate)
    printf("WRITES alternate %ld\n", rounds_open);
  else
    printf("WRITES open %ld blocked %ld\n", rounds_open, rounds_blocked);
  return 0;
}
