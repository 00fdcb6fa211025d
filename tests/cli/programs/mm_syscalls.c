/* Memory the kernel and the program's own memory management touch (issue 15): read(2) into a
   watched buffer, a fork whose child writes its copy (it must not be hurt, nor reported), munmap
   of watched memory and a new mapping at the same place. Prints what it did; exits 0 when every
   step worked as without hwbp. Argument: the file to read. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

char inbox[64];          /* watched: read(2) fills it */
int counter;             /* watched: the parent and the child write it */
char* region;            /* points at an anonymous page the test watches by address */

int main(int argc, char** argv) {
  int fd = open(argc > 1 ? argv[1] : "/etc/hostname", O_RDONLY);
  if (fd < 0) return 10;
  ssize_t n = read(fd, inbox, 16);
  close(fd);
  printf("read %zd\n", n);
  counter = 1;
  pid_t child = fork();
  if (child == 0) {
    counter = 99;  /* its own copy: not watched, never a fault */
    _exit(counter == 99 ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  printf("child %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  counter = 2;
  region = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  printf("region %p\n", (void*)region);
  fflush(stdout);
  /* Wait for the test's go (a line on stdin) so that it can watch the region by address. */
  char line[8];
  if (!fgets(line, sizeof line, stdin)) return 11;
  region[8] = 5;
  munmap(region, 4096);
  char* again = mmap(region, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  again[8] = 6;
  printf("remapped %d\n", again == region && again[8] == 6);
  counter = 3;
  printf("done\n");
  return 0;
}
