// Watches that overlap: a struct and its first field start at the same address, with different
// lengths (and, watched twice, different access types). Single-threaded: every event hwbp opens
// is its own, none an inherited copy.
#include <stdint.h>

struct pair {
  uint32_t first;
  uint32_t second;
};
struct pair pair;
volatile uint32_t sink;

int main(void) {
  for (uint32_t i = 1; i <= 3; i++)
    *(volatile uint32_t*)&pair.second = i; /* SECOND */
  *(volatile uint32_t*)&pair.first = 7; /* FIRST */
  sink = *(volatile uint32_t*)&pair.first; /* READ */
  return 0;
}
