/* Two threads write `hot` as fast as they can for argv[1] seconds (default 2), then the program
   prints "busy done" and exits 0: a target for detaching while hits are in flight. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

volatile long hot = 0;
static volatile int stop = 0;

static void* writer(void* arg) {
  long base = (long)arg;
  for (long i = 0; !stop; ++i) {
    hot = base + i; /* LINE-HOT */
    for (volatile int spin = 0; spin < 200; ++spin) {
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  double secs = argc > 1 ? atof(argv[1]) : 2.0;
  pthread_t a, b;
  pthread_create(&a, NULL, writer, (void*)1000000L);
  pthread_create(&b, NULL, writer, (void*)2000000L);
  printf("pid %d\n", (int)getpid());
  fflush(stdout);
  struct timespec ts = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
  nanosleep(&ts, NULL);
  stop = 1;
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("busy done\n");
  return 0;
}
