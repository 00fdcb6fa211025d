/* Six globals, each incremented by one in a loop for about 300 ms: more watches than an x86 thread
   has debug registers, for `hwbp run --flexible`. Every write adds exactly 1, so a reported hit
   whose old value is known must show new == old + 1. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

volatile int g0, g1, g2, g3, g4, g5;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char** argv) {
  /* No argument: 300 ms; "long": 1 s; a number: that many ms. */
  double ms = argc > 1 ? (atoi(argv[1]) > 0 ? atoi(argv[1]) : 1000) : 300;
  double start = now_ms();
  while (now_ms() - start < ms) {
    g0++; g1++; g2++; g3++; g4++; g5++;
    usleep(200);
  }
  return 0;
}
