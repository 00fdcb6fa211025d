// A VMM that debugs its guest with hwbp::kvm — all four debug registers, hit over and over —
// and writes its own variable `vmm_exits` after every exit. The CLI test runs `hwbp run` /
// `hwbp attach` on it: the host watch must see every one of the VMM's writes.
//
//   debugging_vmm ITERATIONS [GO_FILE]   (with GO_FILE: start the guest once the file exists)
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "support/seed_guest.hpp"

volatile unsigned long vmm_exits = 0;

static void count_exit() {
  vmm_exits = vmm_exits + 1;  // LINE-VMM-WRITE
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s ITERATIONS [GO_FILE]\n", argv[0]);
    return 2;
  }
  const unsigned long iterations = std::strtoul(argv[1], nullptr, 10);
  std::printf("pid %d\n", static_cast<int>(::getpid()));
  std::fflush(stdout);
  if (argc > 2) {
    struct stat st;
    while (::stat(argv[2], &st) != 0) ::usleep(10000);
  }
  try {
    hwbp::test::kvm::TestVm vm;
    const auto run = hwbp::test::kvm::run_seed_guest(vm, iterations, count_exit);
    std::printf("finished exits=%lu breakpoints=%lu data=%lu guest=%s\n",
                static_cast<unsigned long>(run.exits), static_cast<unsigned long>(run.breakpoints),
                static_cast<unsigned long>(run.data), run.finished ? "done" : "stopped");
    return run.finished && vmm_exits == run.exits ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "debugging_vmm: %s\n", e.what());
    return 1;
  }
}
