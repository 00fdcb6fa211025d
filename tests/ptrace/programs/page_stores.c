/* Every family of store into a watched buffer (tests/ptrace/page_store_test.cpp): plain movs of
 * each width, SSE/AVX/AVX-512 stores, lock RMW, xchg, cmpxchg, non-locked RMW, setcc, push onto
 * a watched stack region, rep stosb/movsb, glibc memset/memcpy. The test arms a `w` watch on buf
 * at the arm point and replays the program's stores on a mirror of buf.
 * Prints "buf=ADDR avx512=0|1", raises SIGTRAP (arm point), stores, prints "sum=N". */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cpuid.h>

static unsigned char buf[1024] __attribute__((aligned(4096)));
static unsigned char src[256];

static int has_avx512(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return (b >> 16) & 1; /* AVX512F (the kernel's xstate check is done by the OS enabling it) */
}

__attribute__((target("avx512f"), noinline)) static void store_zmm16(unsigned char *to, const unsigned char *from) {
  __asm__ volatile("vmovdqu64 (%1), %%zmm16\n\tvmovdqu64 %%zmm16, (%0)" : : "r"(to), "r"(from) : "xmm16", "memory");
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  int avx512 = has_avx512();
  for (int i = 0; i < 256; i++) src[i] = (unsigned char)(i * 7 + 1);
  printf("buf=%p avx512=%d\n", (void *)buf, avx512);
  raise(SIGTRAP);
  unsigned char *p = buf;
  /* 1-4: plain stores of 1, 2, 4, 8 bytes (mov r/m, reg and mov r/m, imm). */
  __asm__ volatile("movb $0x11, (%0)" : : "r"(p + 0) : "memory");
  __asm__ volatile("movw %w1, (%0)" : : "r"(p + 2), "r"(0x2222) : "memory");
  __asm__ volatile("movl %1, (%0)" : : "r"(p + 4), "r"(0x33333333) : "memory");
  __asm__ volatile("movq %1, (%0)" : : "r"(p + 8), "r"(0x4444444444444444ULL) : "memory");
  /* 5: SSE 16-byte store from xmm0. */
  __asm__ volatile("movdqu (%1), %%xmm0\n\tmovups %%xmm0, (%0)" : : "r"(p + 16), "r"(src) : "xmm0", "memory");
  /* 6: AVX 32-byte store from ymm1. */
  __asm__ volatile("vmovdqu (%1), %%ymm1\n\tvmovdqu %%ymm1, (%0)\n\tvzeroupper" : : "r"(p + 32), "r"(src + 16)
                   : "xmm1", "memory");
  /* 7: lock add (displaced: flags). */
  __asm__ volatile("lock addq $5, (%0)" : : "r"(p + 64) : "memory", "cc");
  /* 8: lock xadd. */
  uint64_t v = 7;
  __asm__ volatile("lock xaddq %1, (%0)" : : "r"(p + 64), "r"(v) : "memory", "cc");
  /* 9: lock cmpxchg that succeeds (old 12 -> 99). */
  uint64_t expected = 12, desired = 99;
  __asm__ volatile("lock cmpxchgq %2, (%1)" : "+a"(expected) : "r"(p + 64), "r"(desired) : "memory", "cc");
  /* 10: xchg with memory. */
  uint64_t x = 0x5555555555555555ULL;
  __asm__ volatile("xchgq %0, (%1)" : "+r"(x) : "r"(p + 72) : "memory");
  /* 11: non-locked RMW increment. */
  __asm__ volatile("incl (%0)" : : "r"(p + 80) : "memory", "cc");
  /* 12: setcc. */
  __asm__ volatile("cmp %0, %0\n\tsete (%1)" : : "r"(p), "r"(p + 84) : "memory", "cc");
  /* 13: rep stosb of 64 bytes. */
  {
    void *d = p + 128;
    unsigned long n = 64;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(0xAB) : "memory");
  }
  /* 14: rep movsb of 64 bytes. */
  {
    void *d = p + 192;
    const void *s = src + 64;
    unsigned long n = 64;
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  }
  /* 15: AVX-512 64-byte store from zmm16 (only where the CPU has it). */
  if (avx512) store_zmm16(p + 256, src + 128);
  /* 16: push onto a watched "stack": rsp moved into buf for one push. */
  __asm__ volatile("mov %%rsp, %%rbx\n\tmov %0, %%rsp\n\tpushq $0x66\n\tmov %%rbx, %%rsp"
                   : : "r"(p + 384) : "rbx", "memory");
  /* 17: glibc memset and memcpy (whatever this CPU's glibc picks: AVX2/EVEX/erms). */
  memset(p + 512, 0x77, 300);
  memcpy(p + 816, src, 200);
  unsigned long sum = 0;
  for (int i = 0; i < 1024; i++) sum += buf[i];
  printf("sum=%lu\n", sum);
  return 0;
}
