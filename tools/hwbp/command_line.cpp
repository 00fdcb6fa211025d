#include "command_line.hpp"

#include <algorithm>

namespace hwbp::cli {

CommandLine split_command_line(const std::vector<std::string>& argv,
                               const std::set<std::string>& commands_with_program) {
  CommandLine line;
  auto command = std::find_if(argv.begin() + std::min<std::size_t>(1, argv.size()), argv.end(),
                              [](const std::string& w) { return w.empty() || w.front() != '-'; });
  auto separator = command != argv.end() && commands_with_program.count(*command)
                       ? std::find(command + 1, argv.end(), std::string("--"))
                       : argv.end();
  if (command != argv.end()) line.command = *command;
  line.hwbp_words.assign(argv.begin(), separator);
  if (separator != argv.end()) line.program_words.assign(separator + 1, argv.end());
  return line;
}

std::vector<std::string>& program_words() {
  static std::vector<std::string> words;
  return words;
}

}  // namespace hwbp::cli
