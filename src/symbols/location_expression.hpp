// The C/C++ expressions a user writes where GDB's `watch -l` takes a location, parsed into a tree
// (no process, no DWARF: location_evaluator.hpp gives the tree its meaning):
//
//   cfg.retries   cfg.a.b[3]   table[7]   p->next->value   *p   ns::Class::static_member
//   &var   *(long *)0x7ffd1000   (struct foo *)0x5555a000   ((struct foo *)0x5555a000)->len
//
// Grammar (C precedence: postfix binds tighter than prefix):
//   expr    := '*' expr | '&' expr | '(' TYPE ')' expr | postfix
//   postfix := primary ( '.' ID | '->' ID | '[' NUMBER ']' )*
//   primary := NAME | NUMBER | '(' expr ')'
//   NAME    := ID ('::' ID)*            TYPE := [struct|union|enum|class] (NAME | C type words) '*'*
// A parenthesised NAME is a cast when it is followed by an operand, as in C: "(T)0x10" casts,
// "(v).x" does not. Type qualifiers (const, volatile) are accepted and ignored.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace hwbp::symbols {

// A type written in a cast: "struct foo *" -> {"struct", "foo", 1}; "unsigned long" -> {"",
// "unsigned long", 0}.
struct CastType {
  std::string keyword;  // struct, union, enum, class, or empty
  std::string name;     // a (qualified) name, or C type words in canonical order
  int pointers = 0;

  std::string text() const;  // "struct foo *"
};

struct LocationExpr {
  enum class Kind { name, number, member, arrow, index, deref, address_of, cast };
  Kind kind = Kind::name;
  std::string name;         // name: the variable; member/arrow: the field
  std::uint64_t value = 0;  // number; index: the subscript
  CastType type;            // cast
  std::unique_ptr<LocationExpr> operand;  // every kind but name and number

  // Canonical C text, e.g. "cfg.a.b[3]" or "*(long *)0x1000": the watch's label.
  std::string text() const;
};

// Throws SymbolError(bad_spec) naming what is wrong and where, e.g. "expected a member name
// after '.' in 'cfg.'".
std::unique_ptr<LocationExpr> parse_location_expression(std::string_view text);

// True when text needs the expression parser: it holds one of . [ ] ( ) * & ->. Plain names and
// NAME+OFFSET keep the symbol-table path.
bool is_location_expression(std::string_view text);

// C type words in one spelling, as GDB prints them: "long unsigned int" (GCC's DW_AT_name) ->
// "unsigned long". Anything else is returned as is.
std::string canonical_c_type(std::string_view name);

// True for a type spelled in C type words only ("unsigned long", "void"), as CastType keeps them.
bool is_c_type_words(std::string_view name);

// Size of a C type spelled in type words on LP64 (x86-64, aarch64), for casts in programs without
// DWARF: "long" -> 8, "unsigned char" -> 1, "uint32_t" -> 4. 0 when not a C type word spelling.
std::uint64_t builtin_type_size(std::string_view name);

}  // namespace hwbp::symbols
