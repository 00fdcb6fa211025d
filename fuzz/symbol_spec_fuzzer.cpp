// libFuzzer target: symbol specs NAME[+OFFSET] (src/symbols/symbol_spec.hpp), as given to the
// library's symbol lookup and by the CLI. Parses, or throws SymbolError(bad_spec).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "symbols/symbol_error.hpp"
#include "symbols/symbol_spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const hwbp::symbols::SymbolSpec s = hwbp::symbols::parse_symbol_spec(text);
    if (s.name.empty()) std::abort();
    if (s.name.size() > text.size()) std::abort();
  } catch (const hwbp::symbols::SymbolError& e) {
    if (e.symbol_code() != hwbp::symbols::SymbolErrc::bad_spec) std::abort();
  }
  return 0;
}
