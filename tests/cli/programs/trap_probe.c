/* Sends itself perf SIGTRAPs (TRAP_PERF) carrying a chosen sig_data tag, for the SIGTRAP guard
   `hwbp run` preloads (tools/hwbp/trap_guard): a software event (task clock) with sigtrap fires
   on any machine, debug registers or not.
   trap_probe TAG COUNT [own]
     TAG    tool (hwbp's command-line tag, core/sig_data.hpp) | other (not hwbp's)
     COUNT  perf SIGTRAPs to take
     own    install a SIGTRAP handler of its own first (it counts what reaches it)
   Prints "survived N, own handler saw M" if it lives through them. */
#include <linux/perf_event.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t own_seen;

static void own_handler(int sig, siginfo_t* si, void* uc) {
  (void)sig; (void)si; (void)uc;
  own_seen = own_seen + 1;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: trap_probe tool|other COUNT [own]\n");
    return 2;
  }
  /* [63:48] owner: 0x6877 = the command-line tool's (core::SigDataOwner::tool). */
  const uint64_t tag = strcmp(argv[1], "tool") == 0 ? 0x6877ull << 48 : 0x1234ull << 48;
  const long count = atol(argv[2]);
  if (argc > 3 && strcmp(argv[3], "own") == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = own_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGTRAP, &sa, NULL);
  }
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  attr.sample_period = 200000; /* ns of this thread's CPU time */
  attr.disabled = 1;
  attr.exclude_kernel = 1;
  attr.sigtrap = 1;
  attr.remove_on_exec = 1; /* required with sigtrap */
  attr.sig_data = tag;
  int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
  if (fd < 0) {
    perror("trap_probe: perf_event_open");
    return 3;
  }
  ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
  volatile uint64_t spin = 0;
  uint64_t fired = 0;
  for (;;) {
    for (int i = 0; i < 100000; ++i) spin = spin + 1;
    if (read(fd, &fired, sizeof fired) != sizeof fired) break;
    if ((long)(fired / attr.sample_period) >= count) break;
  }
  ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
  printf("survived %ld, own handler saw %d\n", count, (int)own_seen);
  return 0;
}
