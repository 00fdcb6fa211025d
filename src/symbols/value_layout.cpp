#include "symbols/value_layout.hpp"

#include <dwarf.h>

#include "symbols/location_expression.hpp"

namespace hwbp::symbols {
namespace {

using Kind = ValueLayout::Kind;

// Bounds on what one watch's layout describes: nesting and nodes (an array's elements share one
// node). Past them the bytes print raw; a watch is at most a few pages, so this is generous.
constexpr int kMaxDepth = 12;
constexpr int kMaxNodes = 4096;

std::optional<Dwarf_Word> attr_udata(Dwarf_Die d, int at) {
  Dwarf_Attribute attr;
  Dwarf_Word v = 0;
  if (!dwarf_attr_integrate(&d, at, &attr) || dwarf_formudata(&attr, &v) != 0) return std::nullopt;
  return v;
}

Kind base_kind(Dwarf_Word encoding, bool* is_signed) {
  *is_signed = false;
  switch (encoding) {
    case DW_ATE_signed: *is_signed = true; return Kind::signed_int;
    case DW_ATE_unsigned: return Kind::unsigned_int;
    case DW_ATE_boolean: return Kind::boolean;
    case DW_ATE_float: return Kind::floating;
    case DW_ATE_signed_char: *is_signed = true; return Kind::character;
    case DW_ATE_unsigned_char: return Kind::character;
    case DW_ATE_UTF: return Kind::unsigned_int;  // char8_t/char16_t/char32_t: GDB prints U'x'; numbers here
    default: return Kind::raw;
  }
}

// A C type named in a cast (*(long *)0x1000), without DWARF: x86-64 / aarch64 LP64 meanings.
void builtin_kind(const std::string& words, ValueLayout& out) {
  const std::string c = canonical_c_type(words);
  const bool is_unsigned = c.find("unsigned") != std::string::npos || c.starts_with("uint") ||
                           c == "size_t";
  if (c == "void") {
    out.kind = Kind::raw;
  } else if (c.find("float") != std::string::npos || c.find("double") != std::string::npos) {
    out.kind = Kind::floating;
  } else if (c == "_Bool" || c == "bool") {
    out.kind = Kind::boolean;
  } else if (c == "char" || c == "signed char" || c == "unsigned char") {
    out.kind = Kind::character;
    // x86's char is signed; aarch64's is not (its psABI).
#if defined(__aarch64__)
    out.is_signed = c == "signed char";
#else
    out.is_signed = !is_unsigned;
#endif
  } else {
    out.kind = is_unsigned ? Kind::unsigned_int : Kind::signed_int;
  }
}

class Builder {
 public:
  std::shared_ptr<const ValueLayout> build(const TypeRef& t, int depth) {
    auto out = std::make_shared<ValueLayout>();
    out->type = type_name(t);
    out->size = type_size(t).value_or(0);
    if (++nodes_ > kMaxNodes || depth > kMaxDepth || out->size == 0) return out;
    if (is_pointer(t)) {
      out->kind = Kind::pointer;
      return out;
    }
    if (!t.die) {
      builtin_kind(t.builtin, *out);
      return out;
    }
    if (auto dim = array_dimension(t)) {
      if (!dim->count) return out;
      out->kind = Kind::array;
      out->count = *dim->count;
      out->element = build(dim->element, depth + 1);
      if (out->element->size == 0 || out->element->size * out->count != out->size) out->kind = Kind::raw;
      return out;
    }
    if (is_aggregate(t)) {
      out->kind = Kind::aggregate;
      for (auto& [name, member] : members(t)) {
        auto field = build(member.type, depth + 1);
        if (member.size) {  // a bit-field: its bytes, and its bits within them
          auto bits = std::make_shared<ValueLayout>(*field);
          bits->size = *member.size;
          bits->bit_size = member.bit_size;
          bits->bit_shift = member.bit_shift;
          if (!member.bit_size || bits->kind == Kind::aggregate || bits->kind == Kind::array)
            bits->kind = Kind::raw;
          field = std::move(bits);
        }
        out->fields.push_back({name, member.offset, std::move(field)});
      }
      return out;
    }
    Dwarf_Die d = peel(*t.die);
    switch (dwarf_tag(&d)) {
      case DW_TAG_base_type:
        out->kind = base_kind(attr_udata(d, DW_AT_encoding).value_or(0), &out->is_signed);
        break;
      case DW_TAG_enumeration_type: enumeration(d, *out); break;
      case DW_TAG_reference_type:
      case DW_TAG_rvalue_reference_type: out->kind = Kind::pointer; break;
      default: break;  // pointers to members, functions, unspecified types: raw
    }
    return out;
  }

 private:
  static void enumeration(Dwarf_Die d, ValueLayout& out) {
    out.kind = Kind::enumeration;
    // The underlying type's signedness (DWARF 3+ DW_AT_type, or the enumeration's own
    // DW_AT_encoding); GCC without either: signed when an enumerator is negative.
    Dwarf_Attribute attr;
    Dwarf_Die under;
    bool is_signed = false;
    if (dwarf_formref_die(dwarf_attr_integrate(&d, DW_AT_type, &attr), &under)) {
      Dwarf_Die base = peel(under);
      base_kind(attr_udata(base, DW_AT_encoding).value_or(0), &is_signed);
    } else if (auto enc = attr_udata(d, DW_AT_encoding)) {
      base_kind(*enc, &is_signed);
    }
    Dwarf_Die child;
    if (dwarf_child(&d, &child) != 0) return;
    do {
      if (dwarf_tag(&child) != DW_TAG_enumerator) continue;
      Dwarf_Attribute value;
      Dwarf_Sword v = 0;
      const char* name = dwarf_diename(&child);
      if (!name || !dwarf_attr(&child, DW_AT_const_value, &value) || dwarf_formsdata(&value, &v) != 0) continue;
      if (v < 0) is_signed = true;
      out.enumerators.emplace_back(static_cast<std::int64_t>(v), name);
    } while (dwarf_siblingof(&child, &child) == 0);
    out.is_signed = is_signed;
  }

  int nodes_ = 0;
};

}  // namespace

std::shared_ptr<const ValueLayout> value_layout(const TypeRef& type) { return Builder().build(type, 0); }

}  // namespace hwbp::symbols
