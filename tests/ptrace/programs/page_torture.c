/* The torture case of issue 15 (tests/ptrace/page_torture_test.cpp): 8 threads, created after
 * the arm point, 100,000 stores each into one page that holds one watched 8-byte field and
 * unwatched neighbours: per thread 50,000 atomic increments of the watched field (lock xadd:
 * displaced steps) and 50,000 increments of its own neighbour slot (plain stores: emulated).
 * Prints "watched=ADDR", raises SIGTRAP (arm point), runs the threads, prints the final values
 * and exits with status 7 (the test checks the status is passed on unchanged). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#define THREADS 8
#define ROUNDS 50000

/* One page: slots[0..7] are the threads' neighbours, slots[256] the watched field. */
static volatile long slots[512] __attribute__((aligned(4096)));

static void *worker(void *arg) {
  long i = (long)arg;
  for (int k = 0; k < ROUNDS; k++) {
    __atomic_fetch_add(&slots[256], 1, __ATOMIC_RELAXED);
    slots[i] = slots[i] + 1;
  }
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  printf("watched=%p\n", (void *)&slots[256]);
  raise(SIGTRAP);
  pthread_t t[THREADS];
  for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  printf("watched=%ld", slots[256]);
  for (int i = 0; i < THREADS; i++) printf(" n%d=%ld", i, slots[i]);
  printf("\n");
  return 7;
}
