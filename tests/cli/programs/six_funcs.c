/* Six functions called a known number of times each (f1 once ... f6 six times), for six execute
   breakpoints at once (more than the four debug registers). */
#include <stdio.h>

volatile int sink;
#define F(n) __attribute__((noinline)) void f##n(void) { sink += n; }
F(1) F(2) F(3) F(4) F(5) F(6)

int main(void) {
  void (*fs[6])(void) = {f1, f2, f3, f4, f5, f6};
  for (int i = 0; i < 6; ++i)
    for (int k = 0; k <= i; ++k) fs[i]();
  printf("sink %d\n", sink);
  return 0;
}
