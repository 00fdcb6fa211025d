#include "core/active.hpp"

namespace hwbp::core {

// seq_cst read-modify-writes: the raise must be visible before the enabling syscall lets a hit
// arrive, and the lower must not become visible before the disabling syscall returned (the
// kernel's cpu_dr7 shadow: set before DR7 is written, cleared after).
// Bits >= 64 break the precondition; masking keeps the shift defined.
void ActiveIndicator::raise(unsigned bit) noexcept {
  mask_->fetch_or(std::uint64_t{1} << (bit & 63), std::memory_order_seq_cst);
}

void ActiveIndicator::lower(unsigned bit) noexcept {
  mask_->fetch_and(~(std::uint64_t{1} << (bit & 63)), std::memory_order_seq_cst);
}

}  // namespace hwbp::core
