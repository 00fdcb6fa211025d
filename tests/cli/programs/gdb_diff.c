/* Differential test target (run_gdb_diff_test.sh): one single-threaded writer of a statically
   zero 8-byte global. Every write happens in main's callees, after main starts, so hwbp (armed
   from the first instruction) and GDB (armed at main) see the same writes. The sequence mixes
   value changes, same-value writes (not modifications) and negative / 64-bit values. */
long watched; /* zero-initialised (.bss): no write before main */

__attribute__((noinline)) void store(long v) {
  watched = v;
  __asm__ volatile("" ::: "memory"); /* keep every store, including the same-value ones */
}

int main(void) {
  static const long seq[] = {5, 5, -7, 0, 0, 123456789012L, -1, -1, 3, 3, 3, 42};
  for (unsigned i = 0; i < sizeof seq / sizeof seq[0]; ++i) store(seq[i]);
  return 0;
}
