#include "core/request.hpp"

#include <cstdarg>
#include <cstdio>

namespace hwbp::core {

namespace {

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  va_list ap, again;
  va_start(ap, fmt);
  va_copy(again, ap);
  std::string out(static_cast<std::size_t>(std::vsnprintf(nullptr, 0, fmt, ap)), '\0');
  std::vsnprintf(out.data(), out.size() + 1, fmt, again);
  va_end(again);
  va_end(ap);
  return out;
}

RuleViolation violation(Rule rule, const WatchRequest& req, const char* what) {
  return {rule,
          format("length %zu at 0x%jx: %s", req.len, static_cast<std::uintmax_t>(req.addr), what)};
}

// A range that has bytes and does not wrap: the rules of user and guest watches alike.
std::optional<RuleViolation> check_extent(const WatchRequest& req) {
  if (req.len == 0)
    return violation(Rule::zero_length, req, "nothing to watch; pass a length of at least 1 byte");
  // Same test as the kernel's arch_build_bp_info: the last byte must not wrap to 0.
  if (req.len - 1 > UINTPTR_MAX - req.addr)
    return violation(Rule::wraps, req,
                     "the range runs past the end of the address space; check address and length");
  return std::nullopt;
}

// Rules of every request, in the order the kernel would check them (if it validated first).
std::optional<RuleViolation> check_common(const ArchInfo& arch, const WatchRequest& req) {
  if (req.addr == 0)
    return RuleViolation{Rule::null_address, format("address 0x0 (length %zu): cannot watch the "
                                                    "null address; pass the object's address",
                                                    req.len)};
  if (auto v = check_extent(req)) return v;
  const std::uintptr_t limit = user_address_limit(arch);
  if (req.addr >= limit || req.len - 1 >= limit - req.addr) {
    const std::string what = format(
        "reaches kernel space (user addresses end below 0x%jx on %s); "
        "watch a user-space address",
        static_cast<std::uintmax_t>(limit), arch.name);
    return violation(Rule::kernel_address, req, what.c_str());
  }
  return std::nullopt;
}

// perf wants bp_len == exec_len for X; raw DR programming uses 1. Both mean "this instruction".
std::optional<RuleViolation> check_exec(const ArchInfo& arch, const WatchRequest& req) {
  if (req.len != 1 && req.len != arch.exec_len) {
    const std::string what =
        arch.exec_len == 1
            ? format("an execute breakpoint covers one instruction; pass length 1 on %s", arch.name)
            : format(
                  "an execute breakpoint covers one instruction; pass length 1 "
                  "or %u on %s",
                  arch.exec_len, arch.name);
    return violation(Rule::exec_length, req, what.c_str());
  }
  // A64 instructions are 4-byte aligned; the kernel would shift BAS past the instruction.
  if (arch.kind == ArchKind::aarch64 && req.addr % 4 != 0)
    return violation(Rule::unaligned, req,
                     "aarch64 instructions are 4-byte aligned; pass the instruction's address");
  return std::nullopt;
}

}  // namespace

std::uintptr_t user_address_limit(const ArchInfo& arch) noexcept {
  // x86-64: TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE with 4-level paging (the kernel keeps the
  // last user page unmapped as a guard against non-canonical returns). 5-level paging and
  // 52-bit aarch64 address spaces are not modelled.
  return arch.kind == ArchKind::x86_64 ? (std::uintptr_t{1} << 47) - 4096 : std::uintptr_t{1} << 48;
}

std::optional<RuleViolation> validate_range(const ArchInfo& arch, const WatchRequest& req) {
  if (auto v = check_common(arch, req)) return v;
  if (req.access == Access::exec) return check_exec(arch, req);
  if (req.len > kMaxRangeLen) {
    const std::string what =
        format("a range watch covers at most %zu bytes; watch a smaller range", kMaxRangeLen);
    return violation(Rule::too_large, req, what.c_str());
  }
  return std::nullopt;
}

std::optional<RuleViolation> validate_guest_range(const ArchInfo& arch, const WatchRequest& req) {
  if (auto v = check_extent(req)) return v;
  if (req.access == Access::exec) return check_exec(arch, req);
  return std::nullopt;
}

}  // namespace hwbp::core
