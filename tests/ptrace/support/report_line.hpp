// The test programs report on one line as "key=value key=value ...".
#pragma once

#include <cstdint>
#include <string>

namespace hwbp::ptrace::test {

// The value of key in line, or "" when absent.
inline std::string field(const std::string& line, const std::string& key) {
  auto at = line.find(key + "=");
  if (at == std::string::npos) return "";
  auto start = at + key.size() + 1;
  return line.substr(start, line.find(' ', start) - start);
}

// A "0x..." value (an address the program printed with %p).
inline std::uint64_t address_field(const std::string& line, const std::string& key) {
  return std::stoull(field(line, key), nullptr, 16);
}

}  // namespace hwbp::ptrace::test
