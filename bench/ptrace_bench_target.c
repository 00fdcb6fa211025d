/* Target of bench/ptrace_page_bench.cpp: one endless loop per argv[1], entered after an arm
 * point (raise(SIGTRAP)) that follows a line "addr=ADDR" naming the variable it stores to.
 *   raw   stores with `movq %rax, (%rdi)` (3 bytes) into a page the program made read-only
 *   spin  a jump to itself (for single-stepping)
 *   mov   plain stores into a page-aligned global (the page engine emulates them)
 *   lock  lock-prefixed increments of it (displaced steps) */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static volatile long counter __attribute__((aligned(4096)));

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "raw")) {
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(p, 4096, PROT_READ);
    printf("addr=%p\n", p);
    raise(SIGTRAP);
    __asm__ volatile("1: movq %%rax, (%0)\n\tjmp 1b" : : "D"(p) : "memory");
  }
  printf("addr=%p\n", (void *)&counter);
  raise(SIGTRAP);
  if (!strcmp(mode, "spin")) __asm__ volatile("1: jmp 1b");
  if (!strcmp(mode, "mov"))
    for (long i = 0;; i++) counter = i;
  if (!strcmp(mode, "lock"))
    for (;;) __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
  return 2;
}
