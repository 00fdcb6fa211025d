/* The soak's target (scripts/soak.sh): a load that runs for a while and then writes the ground
   truth — how many times it wrote `soak_value` — into a file (not to stdout: a case closes
   hwbp's output pipe, which may be the program's too).
   soak_target LOAD SECONDS TRUTH_FILE
     threads  spawner threads create short-lived threads without pause; each writes 5 times
     forks    the main thread writes, forks a child that writes (another process: not counted,
              hwbp watches one process) and exits, and every 8th round a child that execs
              /bin/true
     steady   one writer thread, a write every 500 us (for kill -9 of hwbp: the program must
              reach its end)
     blocked  two writers, one of which blocks every signal (as xz's workers do)
   Every write adds 1 (a plain load and store), so a reported hit's value change is checkable. */
#include <pthread.h>
#include "spawn.h"
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

volatile long soak_value;
static atomic_long writes;
static volatile int stop;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void write_once(void) {
  pthread_mutex_lock(&lock);  /* one writer at a time: every write adds exactly 1 */
  soak_value = soak_value + 1;
  atomic_fetch_add(&writes, 1);
  pthread_mutex_unlock(&lock);
}

static void pause_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
  nanosleep(&ts, NULL);
}

static void* short_lived(void* arg) {
  (void)arg;
  for (int i = 0; i < 5; ++i) write_once();
  return NULL;
}

static void* spawner(void* arg) {
  (void)arg;
  while (!stop) {
    pthread_t t;
    spawn(&t, short_lived, NULL);
    pthread_join(t, NULL);
  }
  return NULL;
}

static void* steady(void* arg) {
  int block = arg != NULL;
  if (block) {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
  }
  while (!stop) {
    write_once();
    pause_us(500);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: soak_target threads|forks|steady|blocked SECONDS TRUTH_FILE\n");
    return 2;
  }
  const char* load = argv[1];
  const int seconds = atoi(argv[2]);
  pthread_t t[4];
  int n = 0;
  if (strcmp(load, "threads") == 0) {
    for (; n < 3; ++n) spawn(&t[n], spawner, NULL);
  } else if (strcmp(load, "steady") == 0) {
    spawn(&t[n++], steady, NULL);
  } else if (strcmp(load, "blocked") == 0) {
    spawn(&t[n++], steady, NULL);
    spawn(&t[n++], steady, (void*)1);
  } else if (strcmp(load, "forks") != 0) {
    fprintf(stderr, "soak_target: unknown load '%s'\n", load);
    return 2;
  }
  if (n == 0) {
    /* forks: in the main thread, until the deadline. */
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += seconds;
    for (;;) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec)) break;
      write_once();
      pid_t child = fork();
      if (child == 0) {
        soak_value = -1;
        if ((atomic_load(&writes) & 7) == 0) execl("/bin/true", "true", (char*)NULL);
        _exit(0);
      }
      if (child > 0) waitpid(child, NULL, 0);
      pause_us(1000);
    }
  } else {
    sleep((unsigned)seconds);
    stop = 1;
    for (int i = 0; i < n; ++i) pthread_join(t[i], NULL);
  }
  FILE* f = fopen(argv[3], "w");
  if (f == NULL) return 1;
  fprintf(f, "writes %ld\n", atomic_load(&writes));
  fclose(f);
  return 0;
}
