#include "watch_spec.hpp"

#include <cctype>
#include <cstdio>
#include <optional>
#include <vector>

#include "hwbp/error.hpp"
#include "printable.hpp"
#include "symbols/location_expression.hpp"

namespace hwbp::cli {

namespace {

constexpr const char* kFormHint = "the form is LOCATION[:LEN][:ACCESS], e.g. 0x1000:8:w";
constexpr const char* kAccessList = "modify, w, rw, r, x";

[[noreturn]] void bad(std::string_view spec, const std::string& what) {
  throw Error(Errc::invalid_request, "watch spec '" + printable(spec) + "': " + printable(what));
}

enum class NumStatus : std::uint8_t { ok, not_number, overflow };

struct Number {
  NumStatus status = NumStatus::not_number;
  std::uint64_t value = 0;
};

// Decimal, or hex with a 0x/0X prefix. Hand-written (not strtoull): strtoull accepts signs,
// spaces and a bare "0x", and silently saturates.
Number parse_number(std::string_view s) {
  unsigned base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  if (s.empty()) return {};
  Number n{NumStatus::ok, 0};
  for (char c : s) {
    const auto uc = static_cast<unsigned char>(c);
    unsigned digit;
    if (std::isdigit(uc)) digit = static_cast<unsigned>(c - '0');
    else if (base == 16 && std::isxdigit(uc)) digit = static_cast<unsigned>(std::tolower(uc) - 'a' + 10);
    else return {};
    if (n.value > (UINT64_MAX - digit) / base) n.status = NumStatus::overflow;
    n.value = n.value * base + digit;
  }
  return n;
}

bool starts_with_digit(std::string_view s) {
  return !s.empty() && std::isdigit(static_cast<unsigned char>(s[0]));
}

// ':' separates fields, except inside a C++ qualified name ("ns::counter:8:w"), where "::"
// belongs to the name. Addresses never contain "::", so "0x10::w" is an empty LEN field.
std::vector<std::string_view> split_fields(std::string_view s) {
  const bool name = !starts_with_digit(s);
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != ':') continue;
    if (name && ((i + 1 < s.size() && s[i + 1] == ':') || (i > 0 && s[i - 1] == ':'))) continue;
    fields.push_back(s.substr(start, i - start));
    start = i + 1;
  }
  fields.push_back(s.substr(start));
  return fields;
}

std::uint64_t parse_address(std::string_view spec, std::string_view text) {
  const std::string t(text);
  const bool hex = text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  const Number n = parse_number(text);
  // A bare number is ambiguous (hex digits typed without 0x, or a decimal address): offer both.
  if (!hex && n.status == NumStatus::ok) {
    char dec_as_hex[32];
    std::snprintf(dec_as_hex, sizeof dec_as_hex, "%#jx", static_cast<std::uintmax_t>(n.value));
    bad(spec, "address '" + t + "' has no 0x prefix; addresses are hex: write 0x" + t + ", or " +
                  dec_as_hex + " if " + t + " is decimal");
  }
  if (n.status == NumStatus::not_number)
    bad(spec, "address '" + t + "' is not a hex number; write 0x followed by hex digits");
  if (n.status == NumStatus::overflow) bad(spec, "address '" + t + "' does not fit in 64 bits");
  return n.value;
}

std::size_t parse_length(std::string_view spec, std::string_view text) {
  const std::string t(text);
  const Number n = parse_number(text);
  if (n.status == NumStatus::not_number)
    bad(spec, "length '" + t + "' is not a number; pass a byte count such as 8 or 0x10");
  if (n.status == NumStatus::overflow) bad(spec, "length '" + t + "' does not fit in 64 bits");
  // 0 would be indistinguishable from "no length" (a symbol's own size).
  if (n.value == 0) bad(spec, "length 0 watches nothing; pass at least 1 byte");
  return static_cast<std::size_t>(n.value);
}

Access parse_access_field(std::string_view spec, std::string_view text) {
  if (auto a = parse_access(text)) return *a;
  bad(spec, "access '" + std::string(text) + "' is not one of " + kAccessList);
}

// NAME or NAME+OFFSET. Like symbols::parse_symbol_spec, only a last '+' followed by a number
// splits, so C++ names such as "operator+" stay whole.
void parse_symbol(std::string_view spec, std::string_view text, WatchSpec& out) {
  out.kind = WatchSpec::Kind::symbol;
  out.symbol = std::string(text);
  const std::size_t plus = text.rfind('+');
  if (plus == std::string_view::npos || plus == 0) return;
  const Number n = parse_number(text.substr(plus + 1));
  if (n.status == NumStatus::not_number) return;
  if (n.status == NumStatus::overflow)
    bad(spec, "offset '" + std::string(text.substr(plus + 1)) + "' does not fit in 64 bits");
  out.symbol = std::string(text.substr(0, plus));
  out.offset = n.value;
}

// GCC names function-local statics and clones "count.0", "f.constprop.0": a '.' followed by a
// digit cannot be a member access, so such a name is a symbol, not an expression.
bool is_compiler_local_name(std::string_view text) {
  for (std::size_t i = 0; i + 1 < text.size(); ++i)
    if (text[i] == '.' && std::isdigit(static_cast<unsigned char>(text[i + 1]))) return true;
  return false;
}

bool is_expression(std::string_view text) {
  return symbols::is_location_expression(text) && !is_compiler_local_name(text);
}

void parse_location(std::string_view spec, std::string_view text, WatchSpec& out) {
  if (text.empty()) bad(spec, "no location; start with an address (0x...) or a symbol name");
  if (is_expression(text)) {
    // Syntax now (errors before anything runs); the meaning needs the program's DWARF.
    try {
      out.symbol = symbols::parse_location_expression(text)->text();
    } catch (const Error& e) {
      bad(spec, e.what());
    }
    out.kind = WatchSpec::Kind::expression;
  } else if (starts_with_digit(text)) {
    out.kind = WatchSpec::Kind::address;
    out.addr = parse_address(spec, text);
  } else {
    parse_symbol(spec, text, out);
  }
}

// The one or two fields after LOCATION: LEN, ACCESS, or LEN:ACCESS.
void parse_native_tail(std::string_view spec, const std::vector<std::string_view>& f,
                       WatchSpec& out) {
  for (std::size_t i = 1; i < f.size(); ++i)
    if (f[i].empty()) bad(spec, "empty field after ':'; remove the extra ':' (" + std::string(kFormHint) + ")");
  if (f.size() == 3) {
    out.len = parse_length(spec, f[1]);
    out.len_given = true;
    out.access = parse_access_field(spec, f[2]);
  } else if (f.size() == 2) {
    if (parse_number(f[1]).status != NumStatus::not_number) {
      out.len = parse_length(spec, f[1]);
      out.len_given = true;
    } else if (auto a = parse_access(f[1])) {
      out.access = *a;
    } else {
      bad(spec, "'" + std::string(f[1]) + "' is neither a length nor an access; pass LEN (e.g. 8) "
                "or ACCESS (" + kAccessList + ")");
    }
  }
}

WatchSpec parse_native(std::string_view spec) {
  const std::vector<std::string_view> f = split_fields(spec);
  if (f.size() > 3) bad(spec, std::string("too many ':' fields; ") + kFormHint);
  WatchSpec out;
  parse_location(spec, f[0], out);
  parse_native_tail(spec, f, out);
  // An execute watch covers one instruction, whatever its length: a LEN there would be
  // silently ignored (perf's mem:ADDR/8:x keeps perf's meaning: 8 = sizeof(long)).
  if (out.access == Access::exec && out.len_given && out.len != 1)
    bad(spec, "an execute watch covers one instruction, so it takes no length; drop ':" +
                  std::string(f[1]) + "' (e.g. " + std::string(f[0]) + ":x)");
  if (!out.len_given) {
    // x covers one instruction; a symbol's default is its own size (0 = resolver decides).
    if (out.access == Access::exec) out.len = 1;
    else if (out.kind == WatchSpec::Kind::address) out.len = kDefaultAddressLen;
  }
  return out;
}

// perf's bp_type letters (parse_breakpoint_type): any order of r and w; x alone.
Access parse_perf_access(std::string_view spec, std::string_view text) {
  if (text == "r") return Access::read;
  if (text == "w") return Access::write;
  if (text == "rw" || text == "wr") return Access::read_write;
  if (text == "x") return Access::exec;
  const std::string t(text);
  if (t.find('x') != std::string::npos && t.find_first_of("rw") != std::string::npos &&
      t.find_first_not_of("rwx") == std::string::npos)
    bad(spec, "perf access '" + t + "': x cannot be combined with r or w (a breakpoint either "
              "executes or accesses data); pick one");
  bad(spec, "perf access '" + t + "' is not one of r, w, x, rw");
}

WatchSpec parse_perf(std::string_view spec) {
  std::string_view rest = spec.substr(4);  // after "mem:"
  WatchSpec out;
  out.perf_form = true;
  out.access = Access::read_write;  // perf: no letters = HW_BREAKPOINT_R | HW_BREAKPOINT_W
  const std::size_t colon = rest.find(':');
  if (colon != std::string_view::npos) {
    const std::string_view acc = rest.substr(colon + 1);
    if (acc.find(':') != std::string_view::npos)
      bad(spec, "too many ':' fields; the perf form is mem:ADDR[/LEN][:ACCESS]");
    if (acc.empty()) bad(spec, "empty access after ':'; pass r, w, x or rw, or drop the ':'");
    out.access = parse_perf_access(spec, acc);
    rest = rest.substr(0, colon);
  }
  const std::size_t slash = rest.find('/');
  const std::string_view addr = rest.substr(0, slash);
  if (addr.empty()) bad(spec, "no address after 'mem:'; e.g. mem:0x1000/8:w");
  // perf's lexer takes decimal or hex here; symbols are not part of perf's mem: syntax.
  const Number n = parse_number(addr);
  if (n.status == NumStatus::not_number)
    bad(spec, "perf's mem: form takes a numeric address, not '" + std::string(addr) +
                  "'; use NAME[:LEN][:ACCESS] for a symbol");
  if (n.status == NumStatus::overflow)
    bad(spec, "address '" + std::string(addr) + "' does not fit in 64 bits");
  out.addr = n.value;
  if (slash != std::string_view::npos) {
    out.len = parse_length(spec, rest.substr(slash + 1));
    out.len_given = true;
  } else {
    // perf: sizeof(long) for x (the kernel wants it); a 1 here means the same instruction and
    // is portable (aarch64 wants 4). Data: HW_BREAKPOINT_LEN_4.
    out.len = out.access == Access::exec ? 1 : kPerfDefaultLen;
  }
  return out;
}

}  // namespace

WatchSpec parse_watch_spec(std::string_view text) {
  if (text.empty()) bad(text, std::string("empty; ") + kFormHint);
  // Expressions may contain spaces ("(struct foo *)0x1000"); anything else is one word.
  if (!is_expression(text))
    for (char c : text)
      if (std::isspace(static_cast<unsigned char>(c)))
        bad(text, "contains whitespace; write it as one word, e.g. 0x1000:8:w");
  WatchSpec out = text.substr(0, 4) == "mem:" ? parse_perf(text) : parse_native(text);
  out.text = std::string(text);
  return out;
}

WatchSpec parse_break_spec(std::string_view text) {
  const std::string shown = printable(text);
  auto bad_break = [&](const std::string& what) -> WatchSpec {
    throw Error(Errc::invalid_request, "--break '" + shown + "': " + what);
  };
  constexpr const char* kBreakForms = "the forms are NAME, NAME+OFF, FILE:LINE and 0xADDR";
  if (text.empty()) return bad_break(std::string("empty; ") + kBreakForms);
  for (char c : text)
    if (std::isspace(static_cast<unsigned char>(c)))
      return bad_break(std::string("contains whitespace; ") + kBreakForms);
  // FILE:LINE: a last single ':' (not C++'s '::') followed by digits.
  const std::size_t colon = text.rfind(':');
  const bool single = colon != std::string_view::npos && colon > 0 && text[colon - 1] != ':' &&
                      (colon + 1 >= text.size() || text[colon + 1] != ':');
  if (single && !starts_with_digit(text)) {
    const std::string_view file = text.substr(0, colon), line = text.substr(colon + 1);
    const Number n = parse_number(line);
    if (line.empty() || n.status != NumStatus::ok || line.find_first_not_of("0123456789") != std::string_view::npos)
      return bad_break("'" + printable(line) + "' is not a line number; " + kBreakForms +
                       " (a breakpoint takes no length or access)");
    if (n.value == 0 || n.value > 10000000) return bad_break("line " + std::string(line) + " does not exist; lines count from 1");
    WatchSpec out;
    out.kind = WatchSpec::Kind::source_line;
    out.file = std::string(file);
    out.line = static_cast<int>(n.value);
    out.access = Access::exec;
    out.len = 1;
    out.text = std::string(text) + ":x";
    return out;
  }
  if (single) return bad_break(std::string("an address takes no ':' field; ") + kBreakForms);
  WatchSpec out;
  try {
    out = parse_watch_spec(std::string(text) + ":x");
  } catch (const Error& e) {
    return bad_break(e.what());
  }
  if (out.kind == WatchSpec::Kind::expression)
    return bad_break(std::string("an expression names data, not code; ") + kBreakForms +
                     " (watch data with --watch)");
  return out;
}

}  // namespace hwbp::cli
