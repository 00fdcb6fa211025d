// `hwbp run --at` target (tests/cli/run_at_test.sh): a config reached only through a pointer
// that is null until main allocates it, a function whose parameter and local are watched for
// the lifetime of its frame, and a second call of that function after the first returned.
#include <stdio.h>
#include <stdlib.h>

struct config {
  int retries;
  int timeout;
};

struct config* the_config;  // null until main allocates it

// noinline: --at stops in a frame of its own; volatile: every store is made in memory.
__attribute__((noinline)) int load_config(struct config* cfg, int rounds) {
  volatile int local_count = 7;
  for (int i = 0; i < rounds; i++) {
    cfg->retries++;
    local_count += 2;
  }
  cfg->timeout = local_count;
  return local_count;
}

__attribute__((noinline)) void never_called(void) { puts("never"); }

int main(int argc, char** argv) {
  the_config = calloc(1, sizeof *the_config);
  int total = load_config(the_config, 3);  // 3 stores to retries, local_count: 7 + 3 stores
  the_config->retries = 100;               // after the frame returned: retries still watched
  total += load_config(the_config, 1);     // a second frame: --at armed once, at the first
  if (argc > 5) never_called();
  printf("MARK retries=%d total=%d\n", the_config->retries, total);
  return 0;
}
