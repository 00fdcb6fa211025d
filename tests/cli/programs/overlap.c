// Watches that overlap: a struct and its first field start at the same address, with different
// lengths (and, watched twice, different access types). `overlap N` repeats the writes in N
// threads created one after the other, after arming (their events are the kernel's copies).
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

struct pair {
  uint32_t first;
  uint32_t second;
};
struct pair pair;
volatile uint32_t sink;

static void* writes(void* arg) {
  (void)arg;
  for (uint32_t i = 1; i <= 3; i++)
    *(volatile uint32_t*)&pair.second = i; /* SECOND */
  *(volatile uint32_t*)&pair.first = 7; /* FIRST */
  sink = *(volatile uint32_t*)&pair.first; /* READ */
  return NULL;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 0;
  writes(NULL);
  for (int i = 0; i < threads; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, writes, NULL) != 0 || pthread_join(t, NULL) != 0) return 1;
  }
  return 0;
}
