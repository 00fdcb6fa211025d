/* Kernel writes into watched memory and the program's own memory management, under the ptrace
 * page transport (tests/ptrace/page_kernel_test.cpp). Prints "inbuf=A m=B m2=C", raises SIGTRAP
 * (arm point: the test watches all three), then one line per step with what the program saw. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned char inbuf[8192] __attribute__((aligned(4096)));

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  unsigned char *m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  unsigned char *m2 = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  unsigned char *far = mmap(NULL, 64 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memset(m, 1, 4 * 4096);
  m2[0] = 9;
  printf("inbuf=%p m=%p m2=%p\n", (void *)inbuf, (void *)m, (void *)m2);
  raise(SIGTRAP);

  int p[2];
  if (pipe(p) != 0) return 2;
  if (write(p[1], "hello world", 11) != 11) return 2;
  ssize_t n = read(p[0], inbuf + 100, 64);
  printf("read=%zd %.11s\n", n, (char *)inbuf + 100);

  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  send(sv[0], "ping", 4, 0);
  n = recv(sv[1], inbuf + 200, 16, 0);
  printf("recv=%zd %.4s\n", n, (char *)inbuf + 200);

  n = getrandom(inbuf + 300, 16, 0);
  printf("getrandom=%zd ", n);
  for (int i = 0; i < 16; i++) printf("%02x", inbuf[300 + i]);
  printf("\n");

  if (write(p[1], "abcdefgh", 8) != 8) return 2;
  struct iovec iov[2] = {{inbuf + 400, 3}, {inbuf + 500, 5}};
  n = readv(p[0], iov, 2);
  printf("readv=%zd %.3s%.5s\n", n, (char *)inbuf + 400, (char *)inbuf + 500);

  struct stat *st = (struct stat *)(inbuf + 1024);
  int r = fstat(p[0], st);
  printf("fstat=%d fifo=%d\n", r, S_ISFIFO(st->st_mode));

  int *fds = (int *)(inbuf + 2048);
  r = pipe2(fds, 0);
  printf("pipe2=%d %d\n", r, fds[0] > 2 && fds[1] > 2);

  /* The program's own mprotect: read-only, then read-write again, then a store. */
  r = mprotect(m, 4096, PROT_READ);
  r |= mprotect(m, 4096, PROT_READ | PROT_WRITE);
  m[0] = 2;
  printf("mprotect=%d m0=%d\n", r, m[0]);

  r = madvise(m + 4096, 4096, MADV_DONTNEED);
  printf("madvise=%d m4096=%d\n", r, m[4096]);

  pid_t c = fork();
  if (c == 0) {
    inbuf[0] = 0x5a; /* the child's own copy: must not fault, must not be reported */
    m[8] = 3;
    _exit(inbuf[0] == 0x5a && m[8] == 3 ? 42 : 1);
  }
  int ws = 0;
  waitpid(c, &ws, 0);
  printf("child=%d\n", WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);

  r = munmap(m + 3 * 4096, 4096);
  void *again = mmap(m + 3 * 4096, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  m[3 * 4096] = 4;
  m[5] = 6; /* the watch on m ended with the munmap: no longer reported */
  printf("munmap=%d again=%d\n", r, again == (void *)(m + 3 * 4096));

  unsigned char *m3 = mremap(m2, 2 * 4096, 8 * 4096, MREMAP_MAYMOVE | MREMAP_FIXED, far);
  m3[0] += 1;
  m3[7 * 4096] = 1;
  printf("mremap=%d m3=%d\n", m3 == far, m3[0]);

  inbuf[1] = 0x77;
  printf("done\n");
  return 0;
}
