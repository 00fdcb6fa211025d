// C++ name demangling through the compiler runtime (abi::__cxa_demangle).
#pragma once

#include <string>
#include <string_view>

namespace hwbp::symbols {

// "_ZN2ns7counterE" -> "ns::counter"; anything that is not a mangled C++ name is returned as is.
std::string demangle(std::string_view name);

// True for Itanium-ABI mangled names ("_Z..."), the only ones worth demangling.
inline bool is_mangled(std::string_view name) { return name.size() > 2 && name.substr(0, 2) == "_Z"; }

}  // namespace hwbp::symbols
