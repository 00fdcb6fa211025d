/* A long-running target for `hwbp attach`: one thread exists before the attach; after the file
   argv[1] appears it writes `ticks`, then starts a new thread that writes it too, then waits for
   argv[2] to appear and exits 0. Prints "pid N" first. */
#include <pthread.h>
#include "spawn.h"
#include <stdio.h>
#include <unistd.h>

long ticks = 0;
static const char* trigger;

static void wait_for(const char* path) {
  while (access(path, F_OK) != 0) usleep(10000);
}

static void* existing(void* arg) {
  (void)arg;
  wait_for(trigger);
  ticks = 100; /* LINE-EXISTING */
  return NULL;
}

static void* later(void* arg) {
  (void)arg;
  ticks = 200; /* LINE-LATER */
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  trigger = argv[1];
  pthread_t a, b;
  spawn(&a, existing, NULL);
  printf("pid %d\n", (int)getpid());
  fflush(stdout);
  pthread_join(a, NULL);
  spawn(&b, later, NULL);
  pthread_join(b, NULL);
  ticks = 300; /* LINE-MAIN */
  wait_for(argv[2]);
  printf("finished ticks=%ld\n", ticks);
  return 0;
}
