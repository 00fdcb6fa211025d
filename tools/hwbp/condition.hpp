// `--if EXPR`: a predicate on a hit's old and new values, evaluated after the trap (x86 debug
// registers cannot compare values; GDB evaluates a watchpoint's condition the same way, in the
// debugger after the stop: gdb/breakpoint.c, bpstat_check_breakpoint_conditions). Grammar,
// deliberately small:
//   expr  := conj ('||' conj)*
//   conj  := cmp ('&&' cmp)*
//   cmp   := operand ('=='|'!='|'<'|'<='|'>'|'>=') operand
//   operand := 'old' | 'new' | integer (decimal, 0x-hex, optional leading '-')
// '&&' binds tighter than '||'; there are no parentheses.
// Values are the watched bytes as a little-endian *signed* integer of the watch's length (most
// watched variables are C ints: `new<0` should mean what it says). A hex literal is taken as a
// bit pattern of that width, so for a 4-byte watch `new==0xffffffff` and `new==-1` agree.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hwbp::cli {

class Condition {
 public:
  Condition() = default;
  // Throws std::invalid_argument with a one-line message naming the offending text.
  static Condition parse(std::string_view text);

  bool empty() const noexcept { return any_of_.empty(); }
  const std::string& text() const noexcept { return text_; }
  // A literal the watch's values can never equal: "" if none, else a one-line reason with the
  // fix. len: the watch's length in bytes (1..8). Decimal literals must lie in the signed range
  // of that width, hex ones within its bits (`new==300` on a 1-byte watch would never hold).
  std::string check_width(unsigned len) const;
  // len: the watch's length in bytes (1..8).
  bool eval(std::uint64_t old_value, std::uint64_t new_value, unsigned len) const noexcept;

 private:
  enum class Kind : std::uint8_t { old_value, new_value, literal };
  enum class Op : std::uint8_t { eq, ne, lt, le, gt, ge };
  struct Operand {
    Kind kind = Kind::literal;
    std::int64_t literal = 0;
    bool hex = false;  // a bit pattern: truncated to the watch's width and sign-extended
  };
  struct Compare {
    Operand lhs, rhs;
    Op op = Op::eq;
  };
  static bool eval_compare(const Compare& c, std::uint64_t old_value, std::uint64_t new_value,
                           unsigned len) noexcept;

  struct Literal {
    std::string text;
    Operand value;
  };
  std::string text_;
  std::vector<std::vector<Compare>> any_of_;  // OR of ANDs
  std::vector<Literal> literals_;            // as written, for check_width
};

}  // namespace hwbp::cli
