// --debug-file-directory DIRS (`hwbp run`, `attach`, `plan`): where separate debug info is looked
// for, as GDB's `set debug-file-directory` (symbols::set_debug_file_directories). For debug
// packages installed somewhere else than /usr/lib/debug, and for tests that must not write there.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace hwbp::cli {

// "" when every colon-separated entry of `dirs` is an existing directory, else the one-line
// reason with the fix.
std::string check_debug_file_directories(const std::string& dirs);

// Adds the option to `sub`; a good value takes effect as the command line is parsed.
void add_debug_file_directory_option(CLI::App& sub);

}  // namespace hwbp::cli
