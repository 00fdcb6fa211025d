#include "symbols/typed_value.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace hwbp::symbols {
namespace {

using Kind = ValueLayout::Kind;

// GDB's `print elements` default: arrays and strings stop after 200 elements with "...".
constexpr std::size_t kPrintElements = 200;
// GDB's `print repeats` default: a run of more than 10 equal elements prints as one
// "<repeats N times>" (gdb/valprint.c, repeat_count_threshold).
constexpr std::size_t kRepeatThreshold = 10;

std::uint64_t little_endian(std::span<const std::uint8_t> b) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < b.size() && i < 8; ++i) v |= std::uint64_t{b[i]} << (8 * i);
  return v;
}

// The integer in a scalar's bytes (its bit-field bits, if it is one), sign-extended when signed.
std::uint64_t integer_of(const ValueLayout& l, std::span<const std::uint8_t> b, bool is_signed) {
  std::uint64_t v = little_endian(b.first(std::min<std::size_t>(l.size, 8)));
  unsigned bits = static_cast<unsigned>(std::min<std::uint64_t>(l.size, 8) * 8);
  if (l.bit_size) {
    v >>= l.bit_shift;
    bits = l.bit_size;
  }
  if (bits < 64) {
    v &= (std::uint64_t{1} << bits) - 1;
    if (is_signed && (v >> (bits - 1)) & 1) v |= ~std::uint64_t{0} << bits;
  }
  return v;
}

// A character as GDB quotes it inside '' or "" (gdb/c-lang.c, generic_emit_char): the C escapes
// it knows by name, printable ASCII as itself, the rest as three octal digits.
void append_escaped(std::string& out, std::uint8_t c, char quote) {
  switch (c) {
    case '\a': out += "\\a"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\v': out += "\\v"; return;
    case 033: out += "\\033"; return;
    case '\\': out += "\\\\"; return;
    default: break;
  }
  if (c == static_cast<std::uint8_t>(quote)) {
    out += '\\';
    out += quote;
  } else if (c >= 0x20 && c < 0x7f) {
    out += static_cast<char>(c);
  } else {
    out += fmt::format("\\{:03o}", c);
  }
}

std::string char_text(std::uint8_t c, bool is_signed) {
  std::string out = is_signed ? std::to_string(static_cast<std::int8_t>(c)) : std::to_string(c);
  out += " '";
  append_escaped(out, c, '\'');
  return out + "'";
}

// A char array as GDB prints it (gdb/valprint.c, generic_printstr): the last byte is dropped when
// it is a terminating NUL, runs of more than 10 equal characters print as 'c' <repeats N times>,
// the rest in double quotes.
std::string string_text(std::span<const std::uint8_t> b) {
  std::size_t n = b.size();
  if (n && b[n - 1] == 0) --n;
  if (n == 0) return "\"\"";
  std::string out;
  bool in_quotes = false;
  std::size_t shown = std::min(n, kPrintElements);
  for (std::size_t i = 0; i < shown;) {
    std::size_t run = 1;
    while (i + run < n && b[i + run] == b[i]) ++run;
    if (run > kRepeatThreshold) {
      if (in_quotes) out += "\", ";
      else if (!out.empty()) out += ", ";
      in_quotes = false;
      out += "'";
      append_escaped(out, b[i], '\'');
      out += fmt::format("' <repeats {} times>", run);
      i += run;
      continue;
    }
    if (!in_quotes) {
      if (!out.empty()) out += ", ";
      out += '"';
      in_quotes = true;
    }
    append_escaped(out, b[i], '"');
    ++i;
  }
  if (in_quotes) out += '"';
  if (shown < n) out += "...";
  return out;
}

// GDB prints a NaN with its mantissa ("nan(0x8000000000000)", "-nan(0x400000)").
template <typename Float, typename Bits>
std::string float_text(std::span<const std::uint8_t> b, int digits, unsigned mantissa_bits) {
  Float f;
  std::memcpy(&f, b.data(), sizeof f);
  if (std::isnan(f)) {
    Bits bits;
    std::memcpy(&bits, b.data(), sizeof bits);
    const Bits mantissa = bits & ((Bits{1} << mantissa_bits) - 1);
    return fmt::format("{}nan({:#x})", std::signbit(f) ? "-" : "", mantissa);
  }
  if (std::isinf(f)) return std::signbit(f) ? "-inf" : "inf";
  // GDB prints floating values with %g and enough digits to read them back (DIG + 3:
  // gdb/target-float.c, floatformat_printf_format).
  char text[64];
  std::snprintf(text, sizeof text, "%.*g", digits, static_cast<double>(f));
  return text;
}

std::string floating_text(const ValueLayout& l, std::span<const std::uint8_t> b) {
  if (l.size == 4) return float_text<float, std::uint32_t>(b, 9, 23);
  if (l.size == 8) return float_text<double, std::uint64_t>(b, 17, 52);
#if defined(__x86_64__) || defined(__i386__)
  if (l.size == 16 || l.size == 12 || l.size == 10) {  // x87 80-bit extended, padded
    long double f = 0;
    std::memcpy(&f, b.data(), 10);
    char text[80];
    std::snprintf(text, sizeof text, "%.21Lg", f);
    return text;
  }
#endif
  return raw_bytes_text(b);
}

// An enumeration whose enumerators are disjoint bit sets is a flag enum: GDB prints an unnamed
// value as the flags it is made of, "(A | B)", "(A | unknown: 0x8)" (gdb/valprint.c,
// generic_val_print_enum_1).
std::string enum_text(const ValueLayout& l, std::uint64_t v) {
  for (const auto& [value, name] : l.enumerators)
    if (static_cast<std::uint64_t>(value) == v) return name;
  std::uint64_t seen = 0;
  bool flags = !l.enumerators.empty();
  for (const auto& [value, name] : l.enumerators) {
    const auto bits = static_cast<std::uint64_t>(value);
    if (value < 0 || (seen & bits)) flags = false;
    seen |= bits;
  }
  const std::string number = l.is_signed ? std::to_string(static_cast<std::int64_t>(v)) : std::to_string(v);
  if (!flags || v == 0) return number;
  std::string out;
  std::uint64_t rest = v;
  for (const auto& [value, name] : l.enumerators) {
    const auto bits = static_cast<std::uint64_t>(value);
    if (bits && (rest & bits) == bits) {
      out += (out.empty() ? "(" : " | ") + name;
      rest &= ~bits;
    }
  }
  if (out.empty()) return number;
  if (rest) out += fmt::format(" | unknown: {:#x}", rest);
  return out + ")";
}

std::string array_text(const ValueLayout& l, std::span<const std::uint8_t> b, const SymbolNamer& namer) {
  if (l.is_text()) return string_text(b.first(l.count));
  const std::uint64_t esize = l.element->size;
  if (esize == 0) return raw_bytes_text(b);
  std::string out = "{";
  std::size_t shown = 0;
  for (std::uint64_t i = 0; i < l.count;) {
    if (shown >= kPrintElements) {
      out += "...";
      break;
    }
    auto elem = b.subspan(i * esize, esize);
    std::uint64_t run = 1;
    while (i + run < l.count && std::equal(elem.begin(), elem.end(), b.begin() + (i + run) * esize)) ++run;
    if (i) out += ", ";
    out += format_value(*l.element, elem, namer);
    if (run > kRepeatThreshold) {
      out += fmt::format(" <repeats {} times>", run);
      i += run;
    } else {
      ++i;
    }
    ++shown;
  }
  return out + "}";
}

}  // namespace

std::string raw_bytes_text(std::span<const std::uint8_t> bytes) {
  std::string s;
  for (auto b : bytes) s += fmt::format("{}{:02x}", s.empty() ? "" : " ", b);
  return "[" + s + "]";
}

std::string format_value(const ValueLayout& l, std::span<const std::uint8_t> b, const SymbolNamer& namer) {
  if (l.kind == Kind::raw || l.size == 0 || b.size() < l.size) return raw_bytes_text(b);
  b = b.first(l.size);
  const bool wide = l.size > 8 && !l.bit_size;  // __int128 and the like: no 64-bit reading
  switch (l.kind) {
    case Kind::signed_int:
      return wide ? raw_bytes_text(b) : std::to_string(static_cast<std::int64_t>(integer_of(l, b, true)));
    case Kind::unsigned_int: return wide ? raw_bytes_text(b) : std::to_string(integer_of(l, b, false));
    case Kind::boolean: {
      const std::uint64_t v = integer_of(l, b, false);
      return v == 0 ? "false" : v == 1 ? "true" : std::to_string(v);
    }
    case Kind::character: return char_text(static_cast<std::uint8_t>(integer_of(l, b, false)), l.is_signed);
    case Kind::floating: return floating_text(l, b);
    case Kind::enumeration: return enum_text(l, integer_of(l, b, l.is_signed));
    case Kind::pointer: {
      const std::uint64_t p = little_endian(b);
      std::string out = fmt::format("{:#x}", p);
      if (p && namer) {
        std::string sym = namer(p);
        if (!sym.empty()) out += " " + sym;
      }
      return out;
    }
    case Kind::aggregate: {
      std::string out = "{";
      for (const auto& f : l.fields) {
        if (out.size() > 1) out += ", ";
        out += f.name + " = " + format_value(*f.layout, b.subspan(std::min(f.offset, b.size())), namer);
      }
      return out + "}";
    }
    case Kind::array: return array_text(l, b, namer);
    case Kind::raw: break;
  }
  return raw_bytes_text(b);
}

namespace {

struct Walk {
  std::span<const std::uint8_t> old_bytes, new_bytes;
  std::uint64_t lo = 0, hi = 0;  // the bytes of interest, [lo, hi)
  bool by_store = false;         // nothing changed: report what overlaps [lo, hi)
  std::size_t limit = 0, more = 0;
  std::vector<WrittenMember> out;

  bool differs(const ValueLayout& l, std::uint64_t at) const {
    if (at + l.size > old_bytes.size() || at + l.size > new_bytes.size()) return false;
    if (l.bit_size)
      return integer_of(l, old_bytes.subspan(at), false) != integer_of(l, new_bytes.subspan(at), false);
    return std::memcmp(old_bytes.data() + at, new_bytes.data() + at, l.size) != 0;
  }

  void leaf(const ValueLayout& l, std::uint64_t at, const std::string& path) {
    if (!by_store && !differs(l, at)) return;
    if (out.size() >= limit) {
      ++more;
      return;
    }
    out.push_back({path, &l, at});
  }

  void visit(const ValueLayout& l, std::uint64_t at, const std::string& path) {
    if (at >= hi || at + l.size <= lo) return;
    if (l.is_leaf()) return leaf(l, at, path);
    if (l.kind == Kind::aggregate) {
      for (const auto& f : l.fields) visit(*f.layout, at + f.offset, path + "." + f.name);
      return;
    }
    const std::uint64_t esize = l.element->size;
    if (esize == 0) return leaf(l, at, path);
    // Only the elements overlapping [lo, hi): a hit on a large array costs what it wrote.
    const std::uint64_t first = lo > at ? (lo - at) / esize : 0;
    const std::uint64_t last = std::min<std::uint64_t>(l.count, (hi - at + esize - 1) / esize);
    for (std::uint64_t i = first; i < last; ++i) visit(*l.element, at + i * esize, fmt::format("{}[{}]", path, i));
  }
};

}  // namespace

std::vector<WrittenMember> written_members(const ValueLayout& layout, const std::string& label,
                                           std::span<const std::uint8_t> old_bytes,
                                           std::span<const std::uint8_t> new_bytes,
                                           std::optional<std::pair<std::uint64_t, std::uint64_t>> store,
                                           std::size_t limit, std::size_t* more) {
  if (more) *more = 0;
  if (layout.is_leaf() || layout.kind == Kind::raw) return {WrittenMember{label, &layout, 0}};
  Walk w{old_bytes, new_bytes, 0, 0, false, limit, 0, {}};
  const std::size_t n = std::min(old_bytes.size(), new_bytes.size());
  std::size_t first = 0;
  while (first < n && old_bytes[first] == new_bytes[first]) ++first;
  if (first < n) {
    std::size_t last = n;
    while (last > first && old_bytes[last - 1] == new_bytes[last - 1]) --last;
    w.lo = first;
    w.hi = last;
  } else if (store && store->second) {
    w.lo = store->first;
    w.hi = store->first + store->second;
    w.by_store = true;
  } else {
    return {};
  }
  w.visit(layout, 0, label);
  if (more) *more = w.more;
  return std::move(w.out);
}

}  // namespace hwbp::symbols
