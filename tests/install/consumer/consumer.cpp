// Built against an installed hwbp: arms one watch and checks the hit.
#include <hwbp/hwbp.hpp>

#include <cstdio>

static volatile long counter = 0;

int main() {
  hwbp::Watch w = hwbp::watch(counter, hwbp::Access::write, {}, hwbp::Target::this_thread());
  counter = 1;
  counter = 2;
  if (w.hits() != 2) {
    std::fprintf(stderr, "consumer: expected 2 hits, got %llu\n", static_cast<unsigned long long>(w.hits()));
    return 1;
  }
  std::puts("C++ consumer: 2 hits");
  return 0;
}
