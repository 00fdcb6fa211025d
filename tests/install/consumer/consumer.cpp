// Built against an installed hwbp: arms one watch and checks the hits (debug registers where they
// deliver hits, page protection where they do not: the automatic engine).
#include <hwbp/hwbp.hpp>

#include <cstdio>

static volatile long counter = 0;

int main() {
  hwbp::Watch w = hwbp::watch(counter, hwbp::Access::write, {}, hwbp::Target::this_thread());
  counter = 1;
  counter = 2;
  if (w.hits() != 2) {
    std::fprintf(stderr, "consumer: expected 2 hits, got %llu (%s)\n", static_cast<unsigned long long>(w.hits()),
                 w.describe().c_str());
    return 1;
  }
  std::printf("C++ consumer: 2 hits on %s\n", w.describe().c_str());
  return 0;
}
