// libFuzzer target: `--if` conditions (tools/hwbp/condition.hpp). The first 17 bytes are the
// watch's length and the old/new values a parsed condition is evaluated on; the rest is the
// expression. Any text parses or is refused with std::invalid_argument in one line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "condition.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint64_t old_value = 0, new_value = 0;
  unsigned len = 8;
  if (size >= 17) {
    len = 1 + data[0] % 8;
    std::memcpy(&old_value, data + 1, 8);
    std::memcpy(&new_value, data + 9, 8);
    data += 17;
    size -= 17;
  }
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const hwbp::cli::Condition c = hwbp::cli::Condition::parse(text);
    if (c.empty()) std::abort();  // parse() never returns "no condition"
    (void)c.eval(old_value, new_value, len);
    for (unsigned width = 1; width <= 8; ++width)
      if (c.check_width(width).find('\n') != std::string::npos) std::abort();
  } catch (const std::invalid_argument& e) {
    if (std::string(e.what()).find('\n') != std::string::npos) std::abort();
  }
  return 0;
}
