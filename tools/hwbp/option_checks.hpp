// Checks of option values that CLI11's own conversions let through: it converts integers with
// strtoull/strtoll in base 0, so "-1" becomes 2^64-1, "010" becomes 8 and an overflow
// saturates; a double accepts "nan" and "inf"; an empty string is a valid string. Each check
// returns "" for a good value, else the one-line reason with the fix (CLI11 prefixes the option).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace hwbp::cli {

// A count (--max-hits, --ignore, --stack): decimal or 0x-hex digits only, within 64 bits.
std::string check_count(const std::string& text);
// A duration in seconds (--duration): a finite number >= 0 and at most kMaxSeconds.
std::string check_seconds(const std::string& text);
// A process id (-p): a positive decimal number.
std::string check_pid(const std::string& text);
// An expression (--if): not empty.
std::string check_expression(const std::string& text);

inline constexpr double kMaxSeconds = 1e9;  // ~31 years: keeps deadlines far from overflow

// The same checks as CLI11 validators, for ->check().
CLI::Validator count_value();
CLI::Validator seconds_value();
CLI::Validator pid_value();
CLI::Validator expression_value();

}  // namespace hwbp::cli
