#include "option_checks.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace hwbp::cli {
namespace {

bool all_digits(const std::string& s, std::size_t from, bool hex) {
  if (from >= s.size()) return false;
  for (std::size_t i = from; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (!(hex ? std::isxdigit(c) : std::isdigit(c))) return false;
  }
  return true;
}

CLI::Validator validator(std::string (*check)(const std::string&), const char* name) {
  return CLI::Validator([check](std::string& value) { return check(value); }, name);
}

}  // namespace

std::string check_count(const std::string& text) {
  const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  if (!all_digits(text, hex ? 2 : 0, hex))
    return "'" + text + "' is not a count; pass a whole number >= 0, e.g. 10";
  // CLI11 converts in base 0: a leading 0 would make the rest octal.
  if (!hex && text.size() > 1 && text[0] == '0')
    return "'" + text + "': write the number without leading zeros (0x... for hex)";
  errno = 0;
  std::strtoull(text.c_str(), nullptr, hex ? 16 : 10);
  if (errno == ERANGE) return "'" + text + "' does not fit in 64 bits";
  return "";
}

std::string check_seconds(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double v = text.empty() ? NAN : std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v) ||
      std::isspace(static_cast<unsigned char>(text.front())))
    return "'" + text + "' is not a number of seconds; pass e.g. 10 or 0.5";
  if (v < 0) return "'" + text + "' is negative; pass a number of seconds >= 0, e.g. 10";
  if (v > kMaxSeconds) return "'" + text + "' seconds is too long; pass at most 1e9";
  return "";
}

std::string check_pid(const std::string& text) {
  if (!all_digits(text, 0, false) || text[0] == '0' || std::strtoll(text.c_str(), nullptr, 10) <= 0 ||
      text.size() > 10 || std::strtoll(text.c_str(), nullptr, 10) > INT32_MAX)
    return "'" + text + "' is not a process id; pass a positive number such as 1234";
  return "";
}

std::string check_expression(const std::string& text) {
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) return "";
  return "empty expression; pass a condition on old and new, e.g. 'new==0', or leave out --if";
}

CLI::Validator count_value() { return validator(check_count, "COUNT"); }
CLI::Validator seconds_value() { return validator(check_seconds, "SEC"); }
CLI::Validator pid_value() { return validator(check_pid, "PID"); }
CLI::Validator expression_value() { return validator(check_expression, "EXPR"); }

}  // namespace hwbp::cli
