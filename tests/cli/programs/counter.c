/* One thread adds 1 to `count` as fast as it can for argv[1] seconds (default 30), then prints
   "counter done" and exits 0: every write changes the value by exactly 1, so a reported hit
   with a known old value must have new == old + 1. A target for attaching while the watched
   variable is being written. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

volatile unsigned long count = 0;

int main(int argc, char** argv) {
  double secs = argc > 1 ? atof(argv[1]) : 30.0;
  printf("pid %d\n", (int)getpid());
  fflush(stdout);
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (unsigned long i = 0;; ++i) {
    count = count + 1; /* LINE-COUNT */
    if ((i & 0xffff) == 0) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      if ((double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 > secs) break;
    }
  }
  printf("counter done\n");
  return 0;
}
