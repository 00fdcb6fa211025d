/* Built from C against an installed hwbp through pkg-config. */
#include <hwbp/hwbp.h>
#include <stdio.h>

static volatile long counter = 0;
static volatile int seen = 0;
static volatile int exact_bytes = 0;

static void on_hit(const hwbp_hit* hit, void* user) {
  (void)user;
  if (hit->has_values && hit->new_value == 7) seen = 1;
  if (hit->new_bytes != NULL && hit->new_bytes[0] == 7) exact_bytes = 1;
}

int main(void) {
  hwbp_options o = HWBP_OPTIONS_INIT;
  hwbp_watch* w = NULL;
  o.addr = (uintptr_t)&counter;
  o.len = sizeof counter;
  o.access = HWBP_MODIFY;
  o.target = HWBP_TARGET_THREAD;
  o.callback = on_hit;
  if (hwbp_watch_create(&o, &w) != HWBP_OK) {
    fprintf(stderr, "consumer: %s\n", hwbp_last_error());
    return 1;
  }
  hwbp_mechanism mechanism;
  const char* reason = NULL;
  if (hwbp_watch_mechanism(w, &mechanism, &reason) != HWBP_OK) {
    fprintf(stderr, "consumer: %s\n", hwbp_last_error());
    return 1;
  }
  counter = 7;
  hwbp_watch_destroy(w);
  if (!seen || !exact_bytes) {
    fprintf(stderr, "consumer: the hit did not reach the C callback with its values (%s)\n",
            hwbp_mechanism_name(mechanism));
    return 1;
  }
  printf("C consumer: hit with new value 7 on %s (%s)\n", hwbp_mechanism_name(mechanism), reason);
  return 0;
}
