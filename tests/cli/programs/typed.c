/* Writes through struct members, array elements and a linked list, for location expressions
   (run_expressions_test.sh): the test watches cfg.retries, table[7], head->next->value, ...
   Prints "MARK name line" before each write, as writes.c does. With the argument "wait" it
   prints "pid N" and the addresses the expressions must resolve to, then waits for stdin to close
   (for `hwbp plan -p PID`). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct config {
  int retries;
  long timeout;
  char name[16];
};

typedef struct node {
  int value;
  struct node* next;
} node_t;

struct config cfg = {3, 100, "start"};
int table[8];
long plain = 7;
node_t second = {2, 0};
node_t first = {1, &second};
node_t* head = &first;

#define MARK(name) printf("MARK %s %d\n", name, __LINE__ + 1)

__attribute__((noinline)) void set_retries(int v) {
  MARK("retries");
  cfg.retries = v;
}

__attribute__((noinline)) void set_cell(int i, int v) {
  MARK("table");
  table[i] = v;
}

__attribute__((noinline)) void set_second(int v) {
  MARK("second");
  head->next->value = v;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "wait") == 0) {
    printf("pid %d second_value=%p retries=%p table7=%p\n", (int)getpid(), (void*)&second.value,
           (void*)&cfg.retries, (void*)&table[7]);
    fflush(stdout);
    while (getchar() != EOF) {
    }
    return 0;
  }
  set_retries(4);
  set_cell(6, 1);
  set_cell(7, 2);
  set_second(20);
  set_retries(5);
  cfg.timeout = 250;
  plain = 8;
  snprintf(cfg.name, sizeof cfg.name, "run %d", cfg.retries); /* written by libc */
  printf("done %s\n", cfg.name);
  return 0;
}
