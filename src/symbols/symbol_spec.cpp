#include "symbols/symbol_spec.hpp"

#include <cctype>
#include <charconv>

#include "symbols/symbol_error.hpp"

namespace hwbp::symbols {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Parses "42" or "0x2a"; false when the text is not entirely a number.
bool parse_number(std::string_view s, std::uint64_t& out) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

SymbolSpec parse_symbol_spec(std::string_view text) {
  std::string_view s = trim(text);
  SymbolSpec spec;
  auto plus = s.rfind('+');
  if (plus != std::string_view::npos) {
    std::string_view tail = trim(s.substr(plus + 1));
    if (parse_number(tail, spec.offset)) {
      s = trim(s.substr(0, plus));
    } else if (!tail.empty() && std::isdigit(static_cast<unsigned char>(tail.front()))) {
      throw SymbolError(SymbolErrc::bad_spec, "bad offset in '" + std::string(text) +
                                                  "': expected NAME+OFFSET, e.g. table+16 or "
                                                  "table+0x10");
    }
  }
  if (s.empty())
    throw SymbolError(SymbolErrc::bad_spec,
                      "empty symbol name in '" + std::string(text) + "': expected NAME[+OFFSET]");
  spec.name = std::string(s);
  return spec;
}

}  // namespace hwbp::symbols
