// The command line before CLI11 sees it: for a command that runs a program (`hwbp run`),
// everything after the first "--" is that program's argv, word for word — "--help", "-o FILE"
// or "-w NAME" there belong to the program, not to hwbp. CLI11 alone does not guarantee it (its
// help flag and option matching look past "--" in a subcommand), so the words are split off
// first and only hwbp's own words are parsed.
#pragma once

#include <set>
#include <string>
#include <vector>

namespace hwbp::cli {

struct CommandLine {
  std::vector<std::string> hwbp_words;     // argv[0] and the words hwbp parses
  std::vector<std::string> program_words;  // after "--", for a command that runs a program
  std::string command;                     // the command word, "" if there is none
};

// argv split as above. The command is the first word after argv[0] that is not an option;
// only when it is one of `commands_with_program` is the line split at its first later "--"
// (other commands keep "--" for CLI11: `hwbp plan -- SPEC`).
CommandLine split_command_line(const std::vector<std::string>& argv,
                               const std::set<std::string>& commands_with_program);

// The program words of this invocation (set by main before parsing, read by the command).
std::vector<std::string>& program_words();

}  // namespace hwbp::cli
