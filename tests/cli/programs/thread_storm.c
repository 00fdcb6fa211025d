/* A process that creates threads without pause: four spawners, each creating a thread that
   writes `storm_counter` once and exits, and joining it, again and again. Prints "pid N" and
   runs for argv[1] seconds (default 60). */
#include <pthread.h>
#include "spawn.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

volatile long storm_counter = 0;
static volatile int stop = 0;

void* writer(void* arg);
void* writer(void* arg) {
  (void)arg;
  storm_counter = storm_counter + 1;  /* racy on purpose: a plain load first (uprobes refuse a lock prefix) */
  return NULL;
}

static void* spawner(void* arg) {
  (void)arg;
  while (!stop) {
    pthread_t t;
    spawn(&t, writer, NULL);
    pthread_join(t, NULL);
  }
  return NULL;
}

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? atoi(argv[1]) : 60;
  pthread_t s[4];
  for (int i = 0; i < 4; ++i) spawn(&s[i], spawner, NULL);
  printf("pid %d\n", (int)getpid());
  fflush(stdout);
  sleep((unsigned)seconds);
  stop = 1;
  for (int i = 0; i < 4; ++i) pthread_join(s[i], NULL);
  return 0;
}
