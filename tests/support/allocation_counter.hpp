// Counts the heap allocations (every form of the global operator new) this thread makes while
// a counter is alive: the proof that a hot path is allocation-free. A test binary gets the
// counting operator new by linking allocation_counter.cpp (a replacement of the global
// operator new, [replacement.functions]); memory comes from malloc as before, so the binary
// behaves the same, under ASan too.
#pragma once

#include <cstddef>

namespace hwbp::test {

class AllocationCounter {
 public:
  AllocationCounter() noexcept;
  ~AllocationCounter();
  AllocationCounter(const AllocationCounter&) = delete;
  AllocationCounter& operator=(const AllocationCounter&) = delete;
  // Allocations by this thread since construction.
  std::size_t count() const noexcept;

 private:
  std::size_t start_;
  bool was_counting_;
};

}  // namespace hwbp::test
