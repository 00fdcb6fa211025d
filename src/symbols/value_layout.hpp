// The layout of a C/C++ type (typed_value.hpp) from its DWARF (libdw): what kind of scalar each
// byte range holds, enumerator names, struct members and array elements. Built once, when a
// watch is resolved, so that printing a hit's values needs no DWARF.
#pragma once

#include <memory>

#include "symbols/dwarf_type.hpp"
#include "symbols/typed_value.hpp"

namespace hwbp::symbols {

// Never null. Types too deep or too wide to describe (more than a few thousand members) are
// described as raw bytes from that level down.
std::shared_ptr<const ValueLayout> value_layout(const TypeRef& type);

}  // namespace hwbp::symbols
