/* stray_write: a small multithreaded program with a memory-corruption bug, for the hwbp demo.
 *
 *   $ ./stray_write
 *   max_retries is 0, expected 3: who overwrote it?
 *   $ hwbp run --watch max_retries -- ./stray_write
 *
 * The configuration parser leaves a cursor pointing at the last field it parsed (max_retries).
 * Much later a worker thread reuses that "scratch" pointer to store its failure count, and the
 * global setting is silently overwritten. hwbp shows the writing thread, the function and the
 * line of the stray store, with the old and new values.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

int max_retries;        /* configuration, written once by parse_config() */
int timeout_ms;

struct parser {
  const char* key;
  int* cursor;          /* the field being parsed; BUG: never reset after parsing */
};
static struct parser parser;

static void parse_field(const char* key, int* field, int value) {
  parser.key = key;
  parser.cursor = field;
  *parser.cursor = value;
}

static void parse_config(void) {
  parse_field("timeout_ms", &timeout_ms, 250);
  parse_field("max_retries", &max_retries, 3);
}

struct worker {
  int id;
  int jobs;
  int failures;
};

/* Stores the failure count in the parser's scratch slot "for the report". The cursor is stale:
   it still points at max_retries. */
__attribute__((noinline)) static void record_failures(struct worker* w) {
  int* scratch = parser.cursor;
  *scratch = w->failures;
}

static void* run_worker(void* arg) {
  struct worker* w = arg;
  char name[16];
  snprintf(name, sizeof name, "worker-%d", w->id);
  pthread_setname_np(pthread_self(), name);
  for (int job = 0; job < w->jobs; ++job) {
    usleep(1000);
    if (w->id == 2 && job % 7 == 6) ++w->failures;
  }
  if (w->failures > 0) record_failures(w);
  return NULL;
}

int main(void) {
  parse_config();
  struct worker workers[3] = {{0, 20, 0}, {1, 25, 0}, {2, 30, 0}};
  pthread_t threads[3];
  for (int i = 0; i < 3; ++i) pthread_create(&threads[i], NULL, run_worker, &workers[i]);
  for (int i = 0; i < 3; ++i) pthread_join(threads[i], NULL);
  if (max_retries != 3) {
    printf("max_retries is %d, expected 3: who overwrote it?\n", max_retries);
    return 1;
  }
  printf("ok\n");
  return 0;
}
