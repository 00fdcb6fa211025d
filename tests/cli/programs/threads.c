/* Writes to one global from the main thread, from a thread created before the watched writes
   begin and from a thread created later. Each writer prints "MARK who line". */
#include <pthread.h>
#include "spawn.h"
#include <stdio.h>

int shared_value = 0;
static pthread_barrier_t go;

#define MARK(who) printf("MARK %s %d\n", who, __LINE__ + 1)

static void* early(void* arg) {
  (void)arg;
  pthread_barrier_wait(&go);
  MARK("early");
  shared_value = 11;
  return NULL;
}

static void* late(void* arg) {
  (void)arg;
  MARK("late");
  shared_value = 22;
  return NULL;
}

int main(void) {
  pthread_t a, b;
  pthread_barrier_init(&go, NULL, 2);
  spawn(&a, early, NULL);
  MARK("main");
  shared_value = 1;
  pthread_barrier_wait(&go);
  pthread_join(a, NULL);
  spawn(&b, late, NULL);
  pthread_join(b, NULL);
  fflush(stdout);
  return 0;
}
