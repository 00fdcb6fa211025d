/* Thread creation for the CLI test programs: a failure ends the program loudly (exit 70, the
   reason on stderr). An ignored pthread_create failure once hid a bug: with hwbp's inherited
   uprobe armed, every pthread_create failed with EFAULT and the programs ran on with one thread,
   so the tests checked far fewer hits than they meant to. */
#ifndef HWBP_TEST_SPAWN_H
#define HWBP_TEST_SPAWN_H
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void spawn(pthread_t* thread, void* (*start)(void*), void* arg) {
  int error = pthread_create(thread, NULL, start, arg);
  if (error != 0) {
    fprintf(stderr, "test program: pthread_create failed: %s\n", strerror(error));
    exit(70);
  }
}

#endif
