/* Scenarios of the ptrace page transport tests (tests/ptrace/page_misc_test.cpp), one per
 * argv[1]. Each prints the addresses to watch on one line, raises SIGTRAP (the arm point), runs,
 * and prints what it saw. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static volatile long counter __attribute__((aligned(4096)));
static volatile long same;
static volatile int handled;
static unsigned char *own_page;

static void on_segv(int sig, siginfo_t *info, void *uc) {
  (void)sig, (void)uc;
  /* The program's own fault: a store to its own read-only page. Make it writable. */
  if ((unsigned char *)info->si_addr >= own_page && (unsigned char *)info->si_addr < own_page + 4096) {
    mprotect(own_page, 4096, PROT_READ | PROT_WRITE);
    handled++;
    return;
  }
  _exit(99);
}

static volatile int got_usr1;
static void on_usr1(int sig) {
  (void)sig;
  got_usr1++;
}

static int pipe_fds[2];
static unsigned char blocked_buf[64] __attribute__((aligned(4096)));
static void *blocked_reader(void *arg) {
  (void)arg;
  ssize_t n = read(pipe_fds[0], blocked_buf, sizeof blocked_buf);
  printf("blocked read=%zd %.*s\n", n, (int)(n > 0 ? n : 0), (char *)blocked_buf);
  return NULL;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  const char *mode = argc > 1 ? argv[1] : "";

  if (!strcmp(mode, "segv")) {
    /* The program's own SIGSEGV handler keeps getting its own faults. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    own_page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("counter=%p\n", (void *)&counter);
    raise(SIGTRAP);
    counter = 1;
    own_page[10] = 5; /* faults for the program: its handler fixes it */
    counter = 2;
    printf("handled=%d own=%d counter=%ld\n", handled, own_page[10], counter);
    return 0;
  }
  if (!strcmp(mode, "detach")) {
    /* Stores for a while; the test detaches midway; every store must still land. */
    printf("counter=%p\n", (void *)&counter);
    raise(SIGTRAP);
    for (long i = 0; i < 20000; i++) counter = counter + 1;
    printf("counter=%ld\n", counter);
    return 0;
  }
  if (!strcmp(mode, "sizes")) {
    /* 1 byte, a 16 MiB buffer, 1000 single-page watches. glibc's memset of 16 MiB is one
     * rep stosb (emulated in 1 MiB batches); its memcpy above rep_movsb_stop_threshold (1 MiB
     * here) is a loop of 32-byte vector stores, one fault each: the copy is 1 MiB of rep movsb
     * plus one vector-loop copy of 64 KiB into the middle. */
    size_t big = 16u << 20;
    unsigned char *b = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *many = mmap(NULL, 1000 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *src = malloc(big);
    for (size_t i = 0; i < big; i++) src[i] = (unsigned char)(i * 13 + 7);
    printf("counter=%p big=%p many=%p\n", (void *)&counter, (void *)b, (void *)many);
    raise(SIGTRAP);
    *(volatile unsigned char *)&counter = 3;
    memset(b, 0x5a, big);
    memcpy(b, src, 1u << 20);
    memcpy(b + (8u << 20), src + (8u << 20), 64u << 10);
    b[big - 1] = src[big - 1];
    for (int i = 0; i < 1000; i++) many[i * 4096 + 100] = (unsigned char)i;
    unsigned long sum = 0;
    for (size_t i = 0; i < big; i += 4096) sum += b[i];
    printf("sum=%lu\n", sum);
    return 0;
  }
  if (!strcmp(mode, "modify")) {
    printf("same=%p\n", (void *)&same);
    raise(SIGTRAP);
    same = 5;
    same = 5; /* same value: a write, not a modification */
    same = 6;
    printf("same=%ld\n", same);
    return 0;
  }
  if (!strcmp(mode, "signal")) {
    /* A watched local variable: signal frames are written into its page. */
    signal(SIGUSR1, on_usr1);
    volatile long local[8] = {0};
    printf("local=%p\n", (void *)&local[4]);
    raise(SIGTRAP);
    local[4] = 11;
    raise(SIGUSR1);
    raise(SIGUSR1);
    local[4] = 12;
    printf("got=%d local=%ld\n", got_usr1, local[4]);
    return 0;
  }
  if (!strcmp(mode, "blocked")) {
    /* A thread already blocked in read(2) into the buffer when it becomes watched. */
    if (pipe(pipe_fds) != 0) return 2;
    pthread_t t;
    pthread_create(&t, NULL, blocked_reader, NULL);
    usleep(100000);
    printf("buf=%p\n", (void *)blocked_buf);
    raise(SIGTRAP);
    if (write(pipe_fds[1], "late data", 9) != 9) return 2;
    pthread_join(t, NULL);
    return 0;
  }
  if (!strcmp(mode, "spawn")) {
    /* posix_spawn: a CLONE_VM|CLONE_VFORK child runs in our address space until it execs. */
    printf("counter=%p\n", (void *)&counter);
    raise(SIGTRAP);
    counter = 1;
    pid_t pid;
    char *args[] = {"/bin/sh", "-c", "exit 5", NULL};
    int rc = posix_spawn(&pid, "/bin/sh", NULL, NULL, args, environ);
    int ws = 0;
    waitpid(pid, &ws, 0);
    counter = 2;
    printf("spawn=%d status=%d counter=%ld\n", rc, WEXITSTATUS(ws), counter);
    return 0;
  }
  if (!strcmp(mode, "exec")) {
    printf("counter=%p\n", (void *)&counter);
    raise(SIGTRAP);
    counter = 1;
    execl("/bin/sh", "sh", "-c", "echo execd; exit 3", (char *)NULL);
    return 2;
  }
  if (!strcmp(mode, "shared")) {
    unsigned char *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    printf("shared=%p counter=%p\n", (void *)s, (void *)&counter);
    raise(SIGTRAP);
    return 0;
  }
  return 2;
}
