/* Workload for bench/peers/old_vs_new.sh: loop.c's N stores of a new value into `counter`, timed
 * by the program itself: prints "ns_per_store X", the loop's time over N. Under a watch that is
 * what each hit costs the watched program (the trap, and the BPF program in the kernel or the
 * ptrace stop), without the tool's start-up, symbol loading and exit, which dwarf it at small N. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

volatile long counter;

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) counter = i + 1;
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
  printf("ns_per_store %.0f\n", n > 0 ? ns / n : 0.0);
  return 0;
}
