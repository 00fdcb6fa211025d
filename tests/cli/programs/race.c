/* Threads racing on one variable, for the exact-value tests (issue 17). Usage:
     race KIND THREADS OPS
   KIND   store    thread t (1-based) stores t << 32 | i, i = 1..OPS, into race_value (a plain mov:
                   the value names its writer, and every value is stored once)
          halves   thread t stores t << 32 | i / 2: each value twice in a row (a thread alone makes
                   OPS / 2 + 1 changes: the modify filter's count)
          xchg     the same values, with xchg
          add      lock add 1 to race_counter
          xadd     lock xadd 1 to race_counter
          cmpxchg  lock cmpxchg loop adding 1 to race_counter (a failed cmpxchg writes the old
                   value back: a same-value write)
   Each thread prints "thread T tid TID" before the race starts (all threads start together, at a
   barrier); the program prints "final 0xVALUE" (the variable's last value) and exits 0. */
#include <pthread.h>
#include "spawn.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

volatile unsigned long race_value = 0;
volatile unsigned long race_counter = 0;

static const char* kind;
static unsigned long ops;
static pthread_barrier_t start;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static void* run(void* arg) {
  unsigned long t = (unsigned long)arg;
  pthread_mutex_lock(&print_lock);
  printf("thread %lu tid %ld\n", t, (long)syscall(SYS_gettid));
  fflush(stdout);
  pthread_mutex_unlock(&print_lock);
  pthread_barrier_wait(&start);
  unsigned long sink = 0;
  for (unsigned long i = 1; i <= ops; ++i) {
    unsigned long v = t << 32 | i;
    if (strcmp(kind, "store") == 0) {
      race_value = v; /* LINE-STORE */
    } else if (strcmp(kind, "halves") == 0) {
      race_value = t << 32 | i / 2; /* LINE-HALVES */
    } else if (strcmp(kind, "xchg") == 0) {
      sink += __atomic_exchange_n(&race_value, v, __ATOMIC_SEQ_CST);
    } else if (strcmp(kind, "add") == 0) {
      __atomic_fetch_add(&race_counter, 1, __ATOMIC_SEQ_CST); /* result unused: lock add */
    } else if (strcmp(kind, "xadd") == 0) {
      sink += __atomic_fetch_add(&race_counter, 1, __ATOMIC_SEQ_CST); /* lock xadd */
    } else {
      unsigned long old = race_counter;
      while (!__atomic_compare_exchange_n(&race_counter, &old, old + 1, 0, __ATOMIC_SEQ_CST,
                                          __ATOMIC_SEQ_CST)) {
      }
    }
  }
  return (void*)sink;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: race store|halves|xchg|add|xadd|cmpxchg THREADS OPS\n");
    return 2;
  }
  kind = argv[1];
  unsigned long n = strtoul(argv[2], NULL, 0);
  ops = strtoul(argv[3], NULL, 0);
  if (n == 0 || n > 64) return 2;
  pthread_t th[64];
  pthread_barrier_init(&start, NULL, (unsigned)n);
  for (unsigned long t = 0; t < n; ++t) spawn(&th[t], run, (void*)(t + 1));
  for (unsigned long t = 0; t < n; ++t) pthread_join(th[t], NULL);
  int counter = strcmp(kind, "store") != 0 && strcmp(kind, "halves") != 0 && strcmp(kind, "xchg") != 0;
  printf("final %#lx\n", counter ? race_counter : race_value);
  return 0;
}
