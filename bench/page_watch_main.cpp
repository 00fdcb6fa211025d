// hwbp_page_watch: runs a program with one page-engine watch through the ptrace transport and
// prints "hits N" — the page engine's side of bench/peers/page_vs_gdb.sh until `hwbp run`
// gains --engine page. Usage: hwbp_page_watch ADDR LEN -- PROGRAM [ARGS...]
// ADDR must be mapped at exec (a global of a non-PIE program); the watch is `modify`.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "hwbp/error.hpp"
#include "ptrace/support/page_tracer.hpp"
#include "ptrace/support/traced_child.hpp"

int main(int argc, char** argv) {
  if (argc < 5 || std::string(argv[3]) != "--") {
    std::fprintf(stderr, "usage: %s ADDR LEN -- PROGRAM [ARGS...]\n", argv[0]);
    return 2;
  }
  const std::uint64_t addr = std::strtoull(argv[1], nullptr, 0), len = std::strtoull(argv[2], nullptr, 0);
  try {
    hwbp::ptrace::test::TracedChild child(std::vector<std::string>(argv + 4, argv + argc),
                                          hwbp::ptrace::test::kTraceOptions, std::chrono::seconds(3600));
    hwbp::ptrace::test::PageTracer tracer(child);
    tracer.keep_hits = false;
    tracer.on_start = [&](pid_t tid) { tracer.transport().arm(tid, addr, len, hwbp::Access::modify); };
    int status = tracer.run();
    std::printf("%s", child.output().c_str());
    std::printf("hits %llu\n", static_cast<unsigned long long>(tracer.hit_count()));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  } catch (const hwbp::Error& e) {
    std::fprintf(stderr, "hwbp_page_watch: %s\n", e.what());
    return 1;
  }
}
