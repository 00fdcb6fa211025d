#include "symbols/dwarf_type.hpp"

#include <dwarf.h>

#include <cstdlib>

#include "symbols/location_expression.hpp"

namespace hwbp::symbols {
namespace {

constexpr std::uint64_t kPointerSize = 8;  // LP64: x86-64 and aarch64, hwbp's architectures

std::optional<Dwarf_Die> type_of(const Dwarf_Die& d) {
  Dwarf_Die die = d, out;
  Dwarf_Attribute attr;
  if (!dwarf_formref_die(dwarf_attr_integrate(&die, DW_AT_type, &attr), &out)) return std::nullopt;
  return out;
}

std::optional<std::uint64_t> udata(const Dwarf_Die& d, int at) {
  Dwarf_Die die = d;
  Dwarf_Attribute attr;
  Dwarf_Word v = 0;
  if (!dwarf_attr_integrate(&die, at, &attr) || dwarf_formudata(&attr, &v) != 0) return std::nullopt;
  return v;
}

const char* name_attr(const Dwarf_Die& d) {
  Dwarf_Die die = d;
  return dwarf_diename(&die);
}

bool is_cplusplus(const Dwarf_Die& d) {
  Dwarf_Die die = d, cu;
  if (!dwarf_diecu(&die, &cu, nullptr, nullptr)) return false;
  switch (dwarf_srclang(&cu)) {
    case DW_LANG_C_plus_plus:
    case DW_LANG_C_plus_plus_03:
    case DW_LANG_C_plus_plus_11:
    case DW_LANG_C_plus_plus_14: return true;
    default: return false;
  }
}

std::vector<Dwarf_Die> children(const Dwarf_Die& d) {
  std::vector<Dwarf_Die> out;
  Dwarf_Die die = d, child;
  if (dwarf_child(&die, &child) != 0) return out;
  do out.push_back(child);
  while (dwarf_siblingof(&out.back(), &child) == 0);
  return out;
}

std::vector<std::optional<std::uint64_t>> dimensions(const Dwarf_Die& array) {
  std::vector<std::optional<std::uint64_t>> dims;
  for (const Dwarf_Die& c : children(array)) {
    Dwarf_Die sub = c;
    if (dwarf_tag(&sub) != DW_TAG_subrange_type) continue;
    if (auto count = udata(c, DW_AT_count)) {
      dims.push_back(*count);
    } else if (auto upper = udata(c, DW_AT_upper_bound)) {
      dims.push_back(*upper + 1 - udata(c, DW_AT_lower_bound).value_or(0));
    } else {
      dims.push_back(std::nullopt);  // int tail[] (flexible array member)
    }
  }
  return dims;
}

// "ns::Widget::" for a C++ type declared in namespace ns, class Widget (libdw keeps no parent
// links: dwarf_getscopes_die finds the DIE's ancestors).
std::string cxx_scope(const Dwarf_Die& d) {
  Dwarf_Die die = d;
  Dwarf_Die* scopes = nullptr;
  const int n = dwarf_getscopes_die(&die, &scopes);
  std::string out;
  for (int i = n - 1; i >= 1; --i) {  // [0] is the DIE itself, [n-1] the CU
    const int tag = dwarf_tag(&scopes[i]);
    const char* name = dwarf_diename(&scopes[i]);
    if (name && (tag == DW_TAG_namespace || tag == DW_TAG_structure_type ||
                 tag == DW_TAG_class_type || tag == DW_TAG_union_type))
      out += std::string(name) + "::";
  }
  std::free(scopes);
  return out;
}

// GDB's spelling: "struct foo" in C, "ns::foo" in C++ (where the tag is not part of the name).
std::string die_name(const Dwarf_Die& d);

std::string target_name(const Dwarf_Die& d) {
  auto t = type_of(d);
  return t ? die_name(*t) : "void";
}

std::string array_name(const Dwarf_Die& d, unsigned skip) {
  auto elem = type_of(d);
  std::string out = elem ? die_name(*elem) : "?";
  auto dims = dimensions(d);
  out += " ";
  for (std::size_t i = skip; i < dims.size(); ++i)
    out += dims[i] ? "[" + std::to_string(*dims[i]) + "]" : "[]";
  return out;
}

std::string die_name(const Dwarf_Die& d) {
  Dwarf_Die die = d;
  const char* name = name_attr(d);
  const char* tag_word = nullptr;
  switch (dwarf_tag(&die)) {
    case DW_TAG_structure_type: tag_word = "struct"; break;
    case DW_TAG_class_type: tag_word = "class"; break;
    case DW_TAG_union_type: tag_word = "union"; break;
    case DW_TAG_enumeration_type: tag_word = "enum"; break;
    case DW_TAG_pointer_type: {
      std::string t = target_name(d);
      return t + (t.back() == '*' ? "*" : " *");
    }
    case DW_TAG_reference_type: return target_name(d) + " &";
    case DW_TAG_const_type: return "const " + target_name(d);
    case DW_TAG_volatile_type: return "volatile " + target_name(d);
    case DW_TAG_array_type: return array_name(d, 0);
    case DW_TAG_subroutine_type: return "function";
    case DW_TAG_base_type: return name ? canonical_c_type(name) : "?";
    default: return name ? name : "?";
  }
  if (!name) return std::string(tag_word) + " {...}";
  return is_cplusplus(d) ? cxx_scope(d) + name : std::string(tag_word) + " " + name;
}

// A member's byte offset: a constant, or (older producers) a DW_OP_plus_uconst expression.
std::optional<std::uint64_t> member_offset(const Dwarf_Die& m) {
  if (auto v = udata(m, DW_AT_data_member_location)) return v;
  Dwarf_Die die = m;
  Dwarf_Attribute attr;
  Dwarf_Op* ops = nullptr;
  std::size_t n = 0;
  if (dwarf_attr(&die, DW_AT_data_member_location, &attr) &&
      dwarf_getlocation(&attr, &ops, &n) == 0 && n == 1 && ops[0].atom == DW_OP_plus_uconst)
    return ops[0].number;
  return udata(m, DW_AT_data_bit_offset) ? std::optional<std::uint64_t>(0) : std::nullopt;
}

// A bit-field's bytes: DWARF 4+ gives DW_AT_data_bit_offset from the start of the aggregate; the
// older form a storage unit (DW_AT_byte_size at DW_AT_data_member_location) holding the bits.
void place_bitfield(const Dwarf_Die& m, Member& out) {
  auto bits = udata(m, DW_AT_bit_size);
  if (!bits) return;
  if (auto bit_offset = udata(m, DW_AT_data_bit_offset)) {
    out.offset += *bit_offset / 8;  // out.offset is the aggregate's start (member_offset: 0)
    out.size = (*bit_offset + *bits + 7) / 8 - *bit_offset / 8;
    out.bit_size = static_cast<unsigned>(*bits);  // little-endian: bit 0 is the lowest
    out.bit_shift = static_cast<unsigned>(*bit_offset % 8);
  } else {
    out.size = udata(m, DW_AT_byte_size).value_or(type_size(out.type).value_or(1));
  }
}

// Calls fn(member DIE, offset of its aggregate) for every data member, flattening anonymous
// members and base classes. fn returns true to stop.
template <typename Fn>
bool for_each_member(const Dwarf_Die& aggregate, std::uint64_t base, Fn&& fn) {
  for (const Dwarf_Die& c : children(aggregate)) {
    Dwarf_Die die = c;
    const int tag = dwarf_tag(&die);
    if (tag != DW_TAG_member && tag != DW_TAG_inheritance) continue;
    if (udata(c, DW_AT_external) || dwarf_hasattr(&die, DW_AT_declaration)) continue;  // static
    const std::uint64_t off = base + member_offset(c).value_or(0);
    if (tag == DW_TAG_inheritance || !name_attr(c)) {
      auto t = type_of(c);
      if (t && for_each_member(peel(*t), off, fn)) return true;
      continue;
    }
    if (fn(c, off)) return true;
  }
  return false;
}

}  // namespace

Dwarf_Die peel(const Dwarf_Die& d) {
  Dwarf_Die in = d, out = d;
  if (dwarf_peel_type(&in, &out) != 0) return d;
  return out;
}

std::string type_name(const TypeRef& t) {
  std::string base = !t.die ? t.builtin
                     : t.dims_skipped ? array_name(*t.die, t.dims_skipped)
                                      : die_name(*t.die);
  if (t.pointers) base += (base.back() == '*' ? "" : " ") + std::string(std::size_t(t.pointers), '*');
  return base;
}

std::optional<std::uint64_t> type_size(const TypeRef& t) {
  if (t.pointers) return kPointerSize;
  if (!t.die) {
    auto n = builtin_type_size(t.builtin);
    return n ? std::optional<std::uint64_t>(n) : std::nullopt;
  }
  Dwarf_Die d = peel(*t.die);
  const int tag = dwarf_tag(&d);
  if (tag == DW_TAG_pointer_type || tag == DW_TAG_reference_type) return kPointerSize;
  if (tag == DW_TAG_array_type && t.dims_skipped) {
    auto elem = type_of(d);
    auto elem_size = elem ? type_size(TypeRef::of(*elem)) : std::nullopt;
    if (!elem_size) return std::nullopt;
    std::uint64_t size = *elem_size;
    auto dims = dimensions(d);
    for (std::size_t i = t.dims_skipped; i < dims.size(); ++i) {
      if (!dims[i]) return std::nullopt;
      size *= *dims[i];
    }
    return size;
  }
  Dwarf_Word size = 0;
  if (dwarf_hasattr(&d, DW_AT_declaration) || dwarf_aggregate_size(&d, &size) != 0) return std::nullopt;
  return size;
}

bool is_pointer(const TypeRef& t) {
  if (t.pointers) return true;
  if (!t.die || t.dims_skipped) return false;
  Dwarf_Die d = peel(*t.die);
  return dwarf_tag(&d) == DW_TAG_pointer_type;
}

TypeRef pointee(const TypeRef& t) {
  TypeRef out = t;
  if (t.pointers) {
    --out.pointers;
    return out;
  }
  auto target = type_of(peel(*t.die));
  return target ? TypeRef::of(*target) : TypeRef::named("void");
}

std::optional<ArrayDimension> array_dimension(const TypeRef& t) {
  if (!t.die || t.pointers) return std::nullopt;
  Dwarf_Die d = peel(*t.die);
  if (dwarf_tag(&d) != DW_TAG_array_type) return std::nullopt;
  auto dims = dimensions(d);
  if (t.dims_skipped >= dims.size()) return std::nullopt;
  ArrayDimension out;
  out.count = dims[t.dims_skipped];
  if (t.dims_skipped + 1 < dims.size()) {
    out.element = TypeRef::of(d);
    out.element.dims_skipped = t.dims_skipped + 1;
  } else {
    auto elem = type_of(d);
    out.element = elem ? TypeRef::of(*elem) : TypeRef::named("void");
  }
  return out;
}

bool is_aggregate(const TypeRef& t) {
  if (!t.die || t.pointers || t.dims_skipped) return false;
  Dwarf_Die d = peel(*t.die);
  const int tag = dwarf_tag(&d);
  return tag == DW_TAG_structure_type || tag == DW_TAG_union_type || tag == DW_TAG_class_type;
}

std::optional<Member> find_member(const TypeRef& t, const std::string& name) {
  std::optional<Member> found;
  for_each_member(peel(*t.die), 0, [&](const Dwarf_Die& m, std::uint64_t off) {
    if (name != name_attr(m)) return false;
    auto type = type_of(m);
    found = Member{off, type ? TypeRef::of(*type) : TypeRef::named("void"), std::nullopt};
    place_bitfield(m, *found);
    return true;
  });
  return found;
}

std::vector<std::pair<std::string, Member>> members(const TypeRef& t) {
  std::vector<std::pair<std::string, Member>> out;
  for_each_member(peel(*t.die), 0, [&](const Dwarf_Die& m, std::uint64_t off) {
    auto type = type_of(m);
    Member member{off, type ? TypeRef::of(*type) : TypeRef::named("void"), std::nullopt};
    place_bitfield(m, member);
    out.emplace_back(name_attr(m), std::move(member));
    return false;
  });
  return out;
}

std::vector<std::string> member_names(const TypeRef& t) {
  std::vector<std::string> out;
  for_each_member(peel(*t.die), 0, [&](const Dwarf_Die& m, std::uint64_t) {
    out.emplace_back(name_attr(m));
    return false;
  });
  return out;
}

}  // namespace hwbp::symbols
