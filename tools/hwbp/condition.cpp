#include "condition.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <stdexcept>

#include <fmt/format.h>

#include "printable.hpp"

namespace hwbp::cli {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits on every occurrence of `sep` (a two-character operator such as "||").
std::vector<std::string_view> split(std::string_view s, std::string_view sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t at; (at = s.find(sep, start)) != std::string_view::npos; start = at + sep.size())
    parts.push_back(s.substr(start, at - start));
  parts.push_back(s.substr(start));
  return parts;
}

[[noreturn]] void bad(std::string_view what, std::string_view expr) {
  throw std::invalid_argument("bad --if expression '" + printable(expr) + "': " + printable(what) +
                              " (use comparisons of old/new with integers, e.g. 'new==0 || "
                              "old>new'; join with && and ||)");
}

std::uint64_t mask_of(unsigned len) {
  return len >= 8 ? ~std::uint64_t{0} : ((std::uint64_t{1} << (8 * len)) - 1);
}

std::int64_t sign_extend(std::uint64_t v, unsigned len) {
  if (len >= 8) return static_cast<std::int64_t>(v);
  unsigned shift = 64 - 8 * len;
  return static_cast<std::int64_t>(v << shift) >> shift;
}

}  // namespace

Condition Condition::parse(std::string_view text) {
  Condition c;
  c.text_ = std::string(trim(text));
  if (c.text_.empty()) bad("empty", text);
  // Longest operators first so "<=" is not read as "<".
  static constexpr std::pair<std::string_view, Op> kOps[] = {
      {"==", Op::eq}, {"!=", Op::ne}, {"<=", Op::le}, {">=", Op::ge}, {"<", Op::lt}, {">", Op::gt}};
  auto operand = [&](std::string_view s) {
    s = trim(s);
    Operand o;
    if (s == "old") { o.kind = Kind::old_value; return o; }
    if (s == "new") { o.kind = Kind::new_value; return o; }
    bool neg = !s.empty() && s.front() == '-';
    if (neg) s.remove_prefix(1);
    if (s.empty() || !std::isdigit(static_cast<unsigned char>(s.front())))
      bad("'" + std::string(s) + "' is not old, new or an integer", text);
    std::size_t used = 0;
    std::uint64_t v = 0;
    try {
      v = std::stoull(std::string(s), &used, 0);
    } catch (const std::exception&) {
      bad("'" + std::string(s) + "' is not an integer", text);
    }
    if (used != s.size()) bad("'" + std::string(s) + "' is not an integer", text);
    o.hex = !neg && s.size() > 2 && (s[1] == 'x' || s[1] == 'X');
    // Values are signed 64-bit at most: a larger decimal would wrap (18446744073709551615 read
    // as -1). Hex literals are bit patterns and may use all 64 bits.
    constexpr std::uint64_t kMax = std::uint64_t{INT64_MAX};
    if (!o.hex && v > kMax + (neg ? 1 : 0))
      bad("'" + std::string(neg ? "-" : "") + std::string(s) + "' is out of range: values are "
          "signed integers of at most 64 bits (" + std::to_string(INT64_MIN) + " to " +
          std::to_string(INT64_MAX) + "); write a bit pattern in hex, e.g. 0xffffffffffffffff",
          text);
    o.literal = neg ? static_cast<std::int64_t>(0 - v) : static_cast<std::int64_t>(v);
    c.literals_.push_back({std::string(neg ? "-" : "") + std::string(s), o});
    return o;
  };
  for (auto conj : split(c.text_, "||")) {
    std::vector<Compare> all_of;
    for (auto cmp_text : split(conj, "&&")) {
      Compare cmp;
      bool found = false;
      for (auto& [sym, op] : kOps) {
        auto at = cmp_text.find(sym);
        if (at == std::string_view::npos) continue;
        cmp = {operand(cmp_text.substr(0, at)), operand(cmp_text.substr(at + sym.size())), op};
        found = true;
        break;
      }
      if (!found) bad("'" + std::string(trim(cmp_text)) + "' has no comparison operator", text);
      all_of.push_back(cmp);
    }
    c.any_of_.push_back(std::move(all_of));
  }
  return c;
}

std::string Condition::check_width(unsigned len) const {
  const unsigned bits = 8 * std::min(len, 8u);
  for (const auto& l : literals_) {
    if (l.value.hex) {
      if (bits < 64 && (static_cast<std::uint64_t>(l.value.literal) >> bits) != 0)
        return "--if literal " + l.text + " is out of range for a " + std::to_string(len) +
               "-byte watch: it has more than " + std::to_string(bits) + " bits";
      continue;
    }
    const std::int64_t lo = bits >= 64 ? INT64_MIN : -(std::int64_t{1} << (bits - 1));
    const std::int64_t hi = bits >= 64 ? INT64_MAX : (std::int64_t{1} << (bits - 1)) - 1;
    if (l.value.literal >= lo && l.value.literal <= hi) continue;
    std::string why = "--if literal " + l.text + " is out of range for a " +
                      std::to_string(len) + "-byte watch: its values are signed, " +
                      std::to_string(lo) + " to " + std::to_string(hi);
    const bool unsigned_fits = l.value.literal > hi && (bits >= 64 || (static_cast<std::uint64_t>(
                                                          l.value.literal) >> bits) == 0);
    if (unsigned_fits)
      why += fmt::format("; for the unsigned value write its bit pattern, {:#x}",
                         static_cast<std::uint64_t>(l.value.literal));
    return why;
  }
  return "";
}

bool Condition::eval_compare(const Compare& c, std::uint64_t old_value, std::uint64_t new_value,
                             unsigned len) noexcept {
  auto value = [&](const Operand& o) -> std::int64_t {
    if (o.kind == Kind::literal && !o.hex) return o.literal;
    std::uint64_t raw = o.kind == Kind::old_value   ? old_value
                        : o.kind == Kind::new_value ? new_value
                                                    : static_cast<std::uint64_t>(o.literal);
    return sign_extend(raw & mask_of(len), len);
  };
  std::int64_t l = value(c.lhs), r = value(c.rhs);
  switch (c.op) {
    case Op::eq: return l == r;
    case Op::ne: return l != r;
    case Op::lt: return l < r;
    case Op::le: return l <= r;
    case Op::gt: return l > r;
    case Op::ge: return l >= r;
  }
  return false;
}

bool Condition::eval(std::uint64_t old_value, std::uint64_t new_value,
                     unsigned len) const noexcept {
  if (any_of_.empty()) return true;
  for (const auto& all_of : any_of_) {
    bool ok = true;
    for (const auto& c : all_of) ok = ok && eval_compare(c, old_value, new_value, len);
    if (ok) return true;
  }
  return false;
}

}  // namespace hwbp::cli
