/* Workload for bench/peers/run.sh: write the watched global N times and nothing else.
 * Each write stores a new value (i + 1) so that value-change watchers (GDB's watch, hwbp's
 * default "modify") report every write too, not N - 1 of them. */
#include <stdlib.h>

volatile long counter;

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000;
  for (long i = 0; i < n; i++) counter = i + 1;
  return 0;
}
