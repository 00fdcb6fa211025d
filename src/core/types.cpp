#include "hwbp/types.hpp"

namespace hwbp {

namespace {

struct AccessName {
  std::string_view short_name;
  std::string_view long_name;
  Access access;
};

// Short names follow GDB/bpftrace/perf letters; long names match the enum for config files.
constexpr AccessName kAccessNames[] = {
    {"x", "exec", Access::exec},
    {"w", "write", Access::write},
    {"rw", "read_write", Access::read_write},
    {"r", "read", Access::read},
    {"modify", "modify", Access::modify},
};

}  // namespace

std::optional<Access> parse_access(std::string_view text) noexcept {
  for (const auto& n : kAccessNames) {
    if (text == n.short_name || text == n.long_name) return n.access;
  }
  return std::nullopt;
}

const char* to_string(Access access) noexcept {
  switch (access) {
    case Access::exec:
      return "x";
    case Access::write:
      return "w";
    case Access::read_write:
      return "rw";
    case Access::read:
      return "r";
    case Access::modify:
      return "modify";
  }
  return "?";
}

const char* to_string(ArchKind arch) noexcept {
  switch (arch) {
    case ArchKind::x86_64:
      return "x86-64";
    case ArchKind::aarch64:
      return "aarch64";
  }
  return "?";
}

}  // namespace hwbp
