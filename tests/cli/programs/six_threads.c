/* Six functions called from four threads (main and three it creates), thread T calling f<n>
   n * 25 times (100 * n calls of f<n> in all) and `locked` 25 times. For execute breakpoints
   served by two engines at once (four debug registers and, beyond them, uprobes or int3), hit
   for hit on every thread.
   Usage: six_threads go | wait   (wait: print "pid N" and start on SIGUSR1, for hwbp attach) */
#include <pthread.h>
#include "spawn.h"
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define THREADS 3
#define ROUNDS 25

static long sink; /* the threads' sums, added under the lock */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
volatile long locked_calls;
#define F(n) \
  __attribute__((noinline)) void f##n(long* acc) { *acc += n; }
F(1) F(2) F(3) F(4) F(5) F(6)
static void (*const fs[6])(long*) = {f1, f2, f3, f4, f5, f6};
/* Its first instruction is `lock add`, which the kernel's uprobes refuse to probe. */
__attribute__((noinline)) void locked(void) { __atomic_add_fetch(&locked_calls, 1, __ATOMIC_RELAXED); }

static void* calls(void* unused) {
  (void)unused;
  long acc = 0;
  for (int r = 0; r < ROUNDS; ++r) {
    for (int i = 0; i < 6; ++i)
      for (int k = 0; k <= i; ++k) fs[i](&acc);
    locked();
  }
  pthread_mutex_lock(&lock);
  sink += acc;
  pthread_mutex_unlock(&lock);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "wait") == 0) {
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    int sig;
    sigwait(&usr1, &sig);
  }
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; ++i) spawn(&t[i], calls, NULL);
  calls(NULL);
  for (int i = 0; i < THREADS; ++i) pthread_join(t[i], NULL);
  printf("sink %ld locked %ld\n", sink, locked_calls); /* 4 threads * 25 rounds * 91, and 100 */
  return 0;
}
