#include "symbols/dwarf_lookup.hpp"

#include <dwarf.h>
#include <elfutils/libdwfl.h>

#include <functional>
#include <vector>

#include "symbols/demangle.hpp"

namespace hwbp::symbols {
namespace {

// Visits the DIEs under `parent`, with the enclosing namespace/class names in `scope`; fn returns
// true to stop. Descends into namespaces and aggregates (static members, nested types), and into
// functions and blocks when `into_functions` (function-local static variables).
using Visit = std::function<bool(Dwarf_Die&, const std::vector<std::string>& scope)>;

bool walk(Dwarf_Die* parent, std::vector<std::string>& scope, bool into_functions, const Visit& fn) {
  Dwarf_Die child;
  if (dwarf_child(parent, &child) != 0) return false;
  do {
    if (fn(child, scope)) return true;
    const int tag = dwarf_tag(&child);
    const bool named_scope = tag == DW_TAG_namespace || tag == DW_TAG_structure_type ||
                             tag == DW_TAG_class_type || tag == DW_TAG_union_type;
    const bool code = tag == DW_TAG_subprogram || tag == DW_TAG_lexical_block;
    if (named_scope || (into_functions && code)) {
      const char* name = dwarf_diename(&child);
      if (named_scope) scope.emplace_back(name ? name : "");
      const bool stop = walk(&child, scope, into_functions, fn);
      if (named_scope) scope.pop_back();
      if (stop) return true;
    }
  } while (dwarf_siblingof(&child, &child) == 0);
  return false;
}

// fn(cu_die_child, scope, bias) over every CU of the module.
bool walk_module(Dwfl_Module* mod, bool into_functions,
                 const std::function<bool(Dwarf_Die&, const std::vector<std::string>&, Dwarf_Addr)>& fn) {
  Dwarf_Addr bias = 0;
  if (!dwfl_module_getdwarf(mod, &bias)) return false;
  Dwarf_Die* cu = nullptr;
  while ((cu = dwfl_module_nextcu(mod, cu, &bias)) != nullptr) {
    std::vector<std::string> scope;
    const Dwarf_Addr b = bias;
    if (walk(cu, scope, into_functions,
             [&](Dwarf_Die& d, const std::vector<std::string>& s) { return fn(d, s, b); }))
      return true;
  }
  return false;
}

std::optional<Dwarf_Addr> static_address(Dwarf_Die& var) {
  Dwarf_Attribute attr;
  Dwarf_Op* ops = nullptr;
  std::size_t n = 0;
  if (!dwarf_attr(&var, DW_AT_location, &attr) || dwarf_getlocation(&attr, &ops, &n) != 0 || n != 1 ||
      ops[0].atom != DW_OP_addr)
    return std::nullopt;
  return ops[0].number;
}

std::string qualified(const std::vector<std::string>& scope, const char* name) {
  std::string out;
  for (const auto& s : scope) out += s + "::";
  return out + name;
}

// "ns::Widget::count" matches a DIE named count in scope ns::Widget, or a definition whose
// linkage name demangles to it (a static member defined outside its class).
bool names_match(Dwarf_Die& die, const std::vector<std::string>& scope, const std::string& wanted) {
  Dwarf_Attribute attr;
  const char* name = dwarf_formstring(dwarf_attr_integrate(&die, DW_AT_name, &attr));
  if (name && qualified(scope, name) == wanted) return true;
  for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name})
    if (const char* s = dwarf_formstring(dwarf_attr_integrate(&die, at, &attr)))
      return demangle(s) == wanted;
  return false;
}

template <typename Fn>
std::optional<Dwarf_Die> first_in_modules(const ProcessImage& image, Fn&& find) {
  std::optional<Dwarf_Die> found;
  for (bool main_pass : {true, false}) {
    image.for_each_module([&](const ModuleInfo& m) {
      if (m.is_main_executable == main_pass) found = find(m.handle);
      return !found;
    });
    if (found) return found;
  }
  return found;
}

bool tag_fits(int tag, const std::string& keyword) {
  if (keyword == "struct" || keyword == "class")
    return tag == DW_TAG_structure_type || tag == DW_TAG_class_type;
  if (keyword == "union") return tag == DW_TAG_union_type;
  if (keyword == "enum") return tag == DW_TAG_enumeration_type;
  return tag == DW_TAG_typedef || tag == DW_TAG_base_type || tag == DW_TAG_structure_type ||
         tag == DW_TAG_class_type || tag == DW_TAG_union_type || tag == DW_TAG_enumeration_type;
}

}  // namespace

bool module_has_dwarf(Dwfl_Module* mod) {
  Dwarf_Addr bias = 0;
  return dwfl_module_getdwarf(mod, &bias) != nullptr;
}

bool image_has_dwarf(const ProcessImage& image) {
  bool any = false;
  image.for_each_module([&](const ModuleInfo& m) {
    any = module_has_dwarf(m.handle);
    return !any;
  });
  return any;
}

std::optional<Dwarf_Die> variable_at(Dwfl_Module* mod, std::uint64_t addr) {
  std::optional<Dwarf_Die> found;
  walk_module(mod, true, [&](Dwarf_Die& d, const std::vector<std::string>&, Dwarf_Addr bias) {
    if (dwarf_tag(&d) != DW_TAG_variable) return false;
    auto a = static_address(d);
    if (a && *a + bias == addr) found = d;
    return found.has_value();
  });
  return found;
}

std::optional<Dwarf_Die> variable_named(const ProcessImage& image, const std::string& name) {
  return first_in_modules(image, [&](Dwfl_Module* mod) {
    std::optional<Dwarf_Die> found;
    walk_module(mod, false, [&](Dwarf_Die& d, const std::vector<std::string>& scope, Dwarf_Addr) {
      const int tag = dwarf_tag(&d);
      if ((tag != DW_TAG_variable && tag != DW_TAG_member) || !dwarf_hasattr_integrate(&d, DW_AT_type))
        return false;
      if (names_match(d, scope, name)) found = d;
      return found.has_value();
    });
    return found;
  });
}

std::optional<Dwarf_Die> type_named(const ProcessImage& image, const CastType& type) {
  return first_in_modules(image, [&](Dwfl_Module* mod) {
    std::optional<Dwarf_Die> found;
    walk_module(mod, false, [&](Dwarf_Die& d, const std::vector<std::string>& scope, Dwarf_Addr) {
      const char* name = dwarf_diename(&d);
      if (!name || !tag_fits(dwarf_tag(&d), type.keyword) || dwarf_hasattr(&d, DW_AT_declaration))
        return false;
      if (qualified(scope, name) == type.name) found = d;
      return found.has_value();
    });
    return found;
  });
}

}  // namespace hwbp::symbols
