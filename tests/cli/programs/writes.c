/* Known write sequence to a global and a static variable. Each write is on its own line, and the
   program prints "MARK name line" for each, so the tests can check the reported line. */
#include <stdio.h>
#include <stdlib.h>

int counter = 1;          /* global */
static long hidden = 5;   /* file-static */
volatile int sink;

#define MARK(name) printf("MARK %s %d\n", name, __LINE__ + 1)

__attribute__((noinline)) void set_counter(int v) {
  MARK("counter");
  counter = v;
}

__attribute__((noinline)) void bump_hidden(void) {
  MARK("hidden");
  hidden += 10;
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 0;
  set_counter(2);
  set_counter(2); /* same value: a write, not a modification */
  set_counter(-3);
  bump_hidden();
  sink = counter; /* a read */
  for (int i = 0; i < n; ++i) counter = i; /* loop for cost measurements */
  set_counter(42);
  fflush(stdout);
  return 7;
}
