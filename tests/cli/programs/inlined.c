/* A write in inlined code: record_failure() (always_inline) stores to `failures`; it is inlined
   into add_failures() (always_inline), itself inlined into run_worker() (noinline). Built with
   -O2 -g. The test finds the lines by their markers: STORE, CALL_INNER, CALL_OUTER. */
#include <stdio.h>

int failures;

static inline __attribute__((always_inline)) void record_failure(int n) {
  failures += n; /* STORE */
}

static inline __attribute__((always_inline)) void add_failures(int n) {
  record_failure(n * 2); /* CALL_INNER */
}

__attribute__((noinline)) void run_worker(int n) {
  add_failures(n); /* CALL_OUTER */
  __asm__ volatile("" ::: "memory"); /* keeps the call from being a tail jump */
}

int main(int argc, char** argv) {
  (void)argv;
  run_worker(argc + 1);
  printf("failures %d\n", failures);
  return 0;
}
