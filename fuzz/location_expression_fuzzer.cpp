// libFuzzer target: location expressions (src/symbols/location_expression.hpp) as a user types
// them in --watch and `hwbp plan`: cfg.retries, table[7], p->next->value, *(long *)0x1000. Any
// text either parses into a tree whose canonical text parses back to the same text (the label a
// watch shows is one the parser accepts), or is refused with SymbolError(bad_spec) naming the
// expression.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "symbols/location_expression.hpp"
#include "symbols/symbol_error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  using hwbp::symbols::SymbolErrc;
  using hwbp::symbols::SymbolError;
  std::string canonical;
  try {
    canonical = hwbp::symbols::parse_location_expression(text)->text();
  } catch (const SymbolError& e) {
    if (e.symbol_code() != SymbolErrc::bad_spec) std::abort();
    if (std::string(e.what()).find("expression '") != 0) std::abort();
    return 0;
  }
  if (canonical.empty()) std::abort();
  try {
    if (hwbp::symbols::parse_location_expression(canonical)->text() != canonical) std::abort();
  } catch (const SymbolError&) {
    std::abort();  // the canonical text of an accepted expression must parse
  }
  return 0;
}
