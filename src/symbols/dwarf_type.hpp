// C/C++ types from DWARF (libdw), as the location evaluator needs them: names as GDB prints them
// ("struct config", "int [4]", "char *"), sizes, members (through anonymous structs and base
// classes), array dimensions and pointer targets. A TypeRef can also stand for a C type that no
// DWARF describes ("long" in *(long *)0x1000, sized by builtin_type_size).
#pragma once

#include <elfutils/libdw.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hwbp::symbols {

struct TypeRef {
  std::optional<Dwarf_Die> die;  // nullopt: `builtin` names the type
  std::string builtin;           // C type words ("long"), or "void"
  int pointers = 0;              // pointer levels on top of die/builtin (from a cast)
  unsigned dims_skipped = 0;     // an array DIE with its first dimensions already indexed

  static TypeRef of(const Dwarf_Die& d) { return TypeRef{d, {}, 0, 0}; }
  static TypeRef named(std::string words) { return TypeRef{std::nullopt, std::move(words), 0, 0}; }
};

std::string type_name(const TypeRef& t);
// nullopt for void, incomplete types and functions.
std::optional<std::uint64_t> type_size(const TypeRef& t);

bool is_pointer(const TypeRef& t);
// Precondition: is_pointer(t). void * gives TypeRef::named("void").
TypeRef pointee(const TypeRef& t);

struct ArrayDimension {
  TypeRef element;                    // the rest of the array after this dimension
  std::optional<std::uint64_t> count; // nullopt: a flexible or unsized array
};
std::optional<ArrayDimension> array_dimension(const TypeRef& t);

bool is_aggregate(const TypeRef& t);  // struct, union or class

struct Member {
  std::uint64_t offset = 0;  // bytes from the start of the aggregate
  TypeRef type;
  std::optional<std::uint64_t> size;  // set for a bit-field: the bytes holding its bits
  // A bit-field's bits within those bytes (DW_AT_data_bit_offset): bit_size 0 where unknown.
  unsigned bit_size = 0, bit_shift = 0;
};
// Precondition: is_aggregate(t). Members of anonymous structs/unions and of base classes count
// as members of t, as in C and C++.
std::optional<Member> find_member(const TypeRef& t, const std::string& name);
std::vector<std::string> member_names(const TypeRef& t);
// Every member, in declaration order (flattened as find_member sees them).
std::vector<std::pair<std::string, Member>> members(const TypeRef& t);

// Typedefs, const, volatile and restrict removed (dwarf_peel_type).
Dwarf_Die peel(const Dwarf_Die& d);

}  // namespace hwbp::symbols
