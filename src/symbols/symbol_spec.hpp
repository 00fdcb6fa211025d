// The user's way of naming a watch target: "NAME" or "NAME+OFFSET" (offset decimal or 0x-hex),
// e.g. "table+0x10" for a field of a struct or an element of an array.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hwbp::symbols {

struct SymbolSpec {
  std::string name;
  std::uint64_t offset = 0;
};

// Throws SymbolError(bad_spec) for an empty name or a malformed offset. Only the last '+' that
// is followed by a number splits, so C++ names such as "operator+" stay whole.
SymbolSpec parse_symbol_spec(std::string_view text);

}  // namespace hwbp::symbols
