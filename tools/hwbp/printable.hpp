// User text quoted in an error message: control characters (a newline in a shell-quoted
// argument, an escape sequence) are written as \xNN, so every error stays one line and cannot
// drive the terminal. Bytes >= 0x80 are kept (UTF-8 names).
#pragma once

#include <string>
#include <string_view>

namespace hwbp::cli {

std::string printable(std::string_view text);

}  // namespace hwbp::cli
