#include "debug_file_directory.hpp"

#include <sys/stat.h>

#include <string_view>

#include "printable.hpp"
#include "symbols/process_image.hpp"

namespace hwbp::cli {

std::string check_debug_file_directories(const std::string& dirs) {
  if (dirs.empty()) return "empty; pass directories separated by ':', e.g. /usr/lib/debug";
  std::string_view rest = dirs;
  while (true) {
    const std::size_t colon = rest.find(':');
    const std::string dir(rest.substr(0, colon));
    struct stat st{};
    if (dir.empty()) return "'" + printable(dirs) + "' has an empty entry; separate directories with one ':'";
    if (dir.front() != '/') return "'" + printable(dir) + "' is not an absolute path";
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return "'" + printable(dir) + "' is not a directory";
    if (colon == std::string_view::npos) return "";
    rest.remove_prefix(colon + 1);
  }
}

void add_debug_file_directory_option(CLI::App& sub) {
  sub.add_option_function<std::string>(
         "--debug-file-directory",
         [](const std::string& dirs) { symbols::set_debug_file_directories(dirs); },
         "where separate debug info is found (DIR[:DIR...], as GDB's debug-file-directory; "
         "default /usr/lib/debug): DIR/.build-id/xx/yyyy.debug and .gnu_debuglink files under "
         "DIR/<the binary's directory>")
      ->type_name("DIRS")
      ->check(CLI::Validator(check_debug_file_directories, "DIRS"));
}

}  // namespace hwbp::cli
