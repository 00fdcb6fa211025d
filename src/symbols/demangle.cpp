#include "symbols/demangle.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

namespace hwbp::symbols {

std::string demangle(std::string_view name) {
  if (!is_mangled(name)) return std::string(name);
  std::string copy(name);  // __cxa_demangle needs a NUL-terminated string
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(
      abi::__cxa_demangle(copy.c_str(), nullptr, nullptr, &status), std::free);
  return status == 0 && out ? std::string(out.get()) : copy;
}

}  // namespace hwbp::symbols
