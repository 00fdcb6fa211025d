/* Workload for bench/peers/page_vs_gdb.sh: N stores into a 16 KiB buffer (one 4-byte slot
 * every 64 bytes, round robin), each storing a value that slot never held, so value-change
 * watchers (GDB's software watchpoint, the page engine's `modify`) report every store. */
#include <stdint.h>
#include <stdlib.h>

volatile uint32_t buf[4096]; /* 16 KiB */

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000;
  for (long i = 0; i < n; i++) buf[(i * 16) % 4096] = (uint32_t)(i + 1);
  return 0;
}
