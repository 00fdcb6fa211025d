/* The page engine's torture case through the CLI (issue 15): 8 threads x 100,000 stores into one
   page that holds a watched 8-byte field (`field`) and unwatched neighbours on both sides. Each
   thread stores its own sequence into the field (w: every store is a hit) and bumps its own
   neighbour counter. Prints the truth (the number of stores to the field) and the neighbours'
   final values; exits 3 so that the test can check that hwbp passes the status on. */
#include <pthread.h>
#include "spawn.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 8
#define STORES 100000

struct page_data {
  volatile uint64_t before[THREADS];  /* unwatched neighbours below the field */
  volatile uint64_t field;            /* the watched 8 bytes */
  volatile uint64_t after[THREADS];   /* unwatched neighbours above it */
};
__attribute__((aligned(4096))) struct page_data data;

static void* worker(void* arg) {
  const uintptr_t id = (uintptr_t)arg;
  for (uint64_t i = 1; i <= STORES; ++i) {
    data.field = (id << 32) | i;
    data.before[id] = i;
    data.after[id] += 2;
  }
  return NULL;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : THREADS;
  pthread_t t[THREADS];
  for (int i = 0; i < threads && i < THREADS; ++i) spawn(&t[i], worker, (void*)(uintptr_t)i);
  for (int i = 0; i < threads && i < THREADS; ++i) pthread_join(t[i], NULL);
  int ok = 1;
  for (int i = 0; i < threads && i < THREADS; ++i)
    if (data.before[i] != STORES || data.after[i] != 2 * STORES) ok = 0;
  printf("truth %d\n", threads * STORES);
  printf("neighbours %s\n", ok ? "right" : "WRONG");
  fflush(stdout);
  return 3;
}
