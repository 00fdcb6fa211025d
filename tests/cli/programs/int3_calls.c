/* Execute breakpoints by int3 under ptrace (issue 15): functions called a known number of times
   from threads that existed before the breakpoints were placed ("old": created before `wait`
   returns) and threads created after, then from a fork child (its calls are not watched; it must
   not die of an inherited breakpoint).
   Usage: int3_calls go | wait   (wait: print "pid N" and start on SIGUSR1, for hwbp attach) */
#include <pthread.h>
#include "spawn.h"
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define OLD 3
#define NEW 2
#define CALLS 1000

volatile long ticks;
volatile int leaf_sum;

__attribute__((noinline)) void tick(void) { __atomic_add_fetch(&ticks, 1, __ATOMIC_RELAXED); }
__attribute__((noinline)) int leaf(int x) { return x * 3 + 1; }

static pthread_barrier_t start;

static void* worker(void* old) {
  if (old) pthread_barrier_wait(&start);
  for (int i = 0; i < CALLS; ++i) tick();
  return NULL;
}

int main(int argc, char** argv) {
  const int wait_for_signal = argc > 1 && strcmp(argv[1], "wait") == 0;
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, NULL);
  pthread_barrier_init(&start, NULL, OLD + 1);
  pthread_t t[OLD + NEW];
  for (int i = 0; i < OLD; ++i) spawn(&t[i], worker, (void*)1);
  if (wait_for_signal) {
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    int sig;
    sigwait(&usr1, &sig);
  }
  pthread_barrier_wait(&start);
  for (int i = OLD; i < OLD + NEW; ++i) spawn(&t[i], worker, NULL);
  for (int i = 0; i < OLD + NEW; ++i) pthread_join(t[i], NULL);
  for (int i = 0; i < 7; ++i) leaf_sum += leaf(i);
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    for (int i = 0; i < 5; ++i) tick();
    _exit(leaf(1) == 4 ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  printf("child %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "failed");
  printf("ticks %ld leaf %d\n", ticks, leaf_sum);
  return 0;
}
