/* Target of the remote-control tests (tests/ptrace/remote_control_test.cpp): one scenario per
 * argv[1], each printing what the test checks. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile sig_atomic_t got_code, got_value, got;

static void on_usr1(int sig, siginfo_t *info, void *uc) {
  (void)sig, (void)uc;
  got_code = info->si_code;
  got_value = info->si_value.sival_int;
  got = 1;
}

static void wait_for_line(void) {
  char buf[64];
  if (read(0, buf, sizeof buf) <= 0) exit(3);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "ro_page")) {
    /* A private page the program itself made read-only; the test writes it from outside. */
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 'A', 4096);
    mprotect(p, 4096, PROT_READ);
    printf("addr=%p\n", (void *)p);
    wait_for_line();
    printf("value=%c%c\n", p[0], p[1]);
    return 0;
  }
  if (!strcmp(mode, "blocked_read")) {
    /* Blocks in read(2) while the test interrupts it and injects system calls. */
    char buf[64] = {0};
    printf("ready\n");
    ssize_t n = read(0, buf, sizeof buf - 1);
    printf("got=%s n=%zd\n", buf, n);
    return 0;
  }
  if (!strcmp(mode, "marker")) {
    /* One write(2) of a known length that the test stops at (entry or exit). */
    printf("ready\n");
    wait_for_line();
    ssize_t r = write(1, "marker!\n", 8);
    printf("r=%zd\n", r);
    return 0;
  }
  if (!strcmp(mode, "sigusr1")) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    /* SIGUSR1 stays blocked except inside sigsuspend: with `while (!got) pause();` a signal
     * arriving between the test of `got` and the pause() would leave the program asleep forever
     * (seen once in CI: the test timed out with no output). */
    sigset_t usr1, waiting;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &waiting);
    sigdelset(&waiting, SIGUSR1);
    printf("ready\n");
    while (!got) sigsuspend(&waiting);
    printf("code=%d value=%d\n", (int)got_code, (int)got_value);
    return 0;
  }
  if (!strcmp(mode, "vectors")) {
    /* Known patterns in xmm0 and the upper half of ymm1, then a trap for the test to look. */
    static const uint8_t pattern[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                        17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    __asm__ volatile("movdqu %0, %%xmm0\n\tvmovdqu %0, %%ymm1\n\tint3" : : "m"(pattern) : "xmm0", "xmm1");
    return 0;
  }
  return 2;
}
