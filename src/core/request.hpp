// Validation of watch requests, before anything reaches the kernel. The kernel checks slots
// before it validates (a malformed request on a full thread gets ENOSPC, not EINVAL), so the
// library validates first to report the real problem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "core/arch.hpp"
#include "hwbp/types.hpp"

namespace hwbp::core {

struct WatchRequest {
  std::uintptr_t addr = 0;
  std::size_t len = 0;
  Access access = Access::modify;
};

// Which rule a request breaks. Each has its own message.
enum class Rule : std::uint8_t {
  null_address,      // addr == 0
  zero_length,       // len == 0
  wraps,             // addr + len overflows
  kernel_address,    // any byte at or above the user-space limit (0x0000'8000'0000'0000 on x86-64)
  unaligned,         // an aarch64 exec request not at an instruction boundary
  exec_length,       // exec request with a length other than 1 or the arch's exec_len
  too_large,         // more bytes than the library will split (> 4096)
};

struct RuleViolation {
  Rule rule;
  std::string message;  // one line: what is wrong and what to do, e.g.
                        // "length 0 at 0x1000: nothing to watch; pass a length of at least 1 byte"
};

// Upper bound on a range watch's length (the split would need far more slots than exist anyway).
inline constexpr std::size_t kMaxRangeLen = 4096;

// First address that is not user space: 0x0000'8000'0000'0000 on x86-64 (4-level paging
// TASK_SIZE_MAX rounded up), 1 << 48 on aarch64 (48-bit VA).
std::uintptr_t user_address_limit(const ArchInfo& arch) noexcept;

// The request as a range watch: any length/alignment that split_range() can cover exactly.
// exec ranges are a single instruction address (len 1 or exec_len).
std::optional<RuleViolation> validate_range(const ArchInfo& arch, const WatchRequest& req);

// The request as a watch on a virtual machine's guest linear addresses (KVM guest debug): the
// length, wrap and exec rules of validate_range, but address 0 and kernel addresses are the
// guest's to use (a real-mode guest runs at 0, a guest kernel high up), and no length bound:
// whether the chunks fit the slots, or a write trap takes the watch, is the caller's decision.
std::optional<RuleViolation> validate_guest_range(const ArchInfo& arch, const WatchRequest& req);

}  // namespace hwbp::core
