/* A 16 KiB buffer filled with memset, then with a loop, then summed (loads only). */
#include <stdio.h>
#include <string.h>

char buf[16384];

int main(void) {
  memset(buf, 1, sizeof buf);
  for (unsigned i = 0; i < sizeof buf; i += 512) buf[i] = (char)i;
  unsigned sum = 0;
  for (unsigned i = 0; i < sizeof buf; ++i) sum += (unsigned char)buf[i];
  printf("sum %u\n", sum);
  return 0;
}
