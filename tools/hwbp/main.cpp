// hwbp: hardware watchpoints from the command line.
#include <cstdio>
#include <exception>
#include <set>
#include <string>
#include <vector>

#include "command.hpp"
#include "command_line.hpp"
#include "hwbp/error.hpp"

namespace hwbp::cli {
int fail(const std::string& message) {
  std::fprintf(stderr, "hwbp: %s\n", message.c_str());
  return 2;
}
}  // namespace hwbp::cli

int main(int argc, char** argv) {
  CLI::App app{"hwbp: hardware breakpoints and watchpoints for Linux (who writes this memory?)"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, std::function<int()>>> runners;
  for (auto& setup : hwbp::cli::CommandRegistry::all()) {
    std::size_t before = app.get_subcommands({}).size();
    auto run = setup(app);
    auto subs = app.get_subcommands({});
    if (subs.size() > before) runners.emplace_back(subs.back(), std::move(run));
  }
  // Commands that run a program declare it as a positional named "program": for them the words
  // after "--" are the program's (command_line.hpp), never parsed as hwbp's options.
  std::set<std::string> with_program;
  std::set<std::string> commands;
  std::string names;
  for (auto& [sub, run] : runners) {
    if (sub->get_option_no_throw("program")) with_program.insert(sub->get_name());
    commands.insert(sub->get_name());
    names += (names.empty() ? "" : ", ") + sub->get_name();
  }
  auto line = hwbp::cli::split_command_line({argv, argv + argc}, with_program);
  if (!line.command.empty() && !commands.count(line.command))
    return hwbp::cli::fail("unknown command '" + line.command + "'; the commands are " + names +
                           " (see 'hwbp --help')");
  hwbp::cli::program_words() = std::move(line.program_words);
  std::vector<const char*> words;
  for (const auto& w : line.hwbp_words) words.push_back(w.c_str());
  try {
    app.parse(static_cast<int>(words.size()), words.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, with the fix: CLI11's own message names the bad option or argument.
    std::fprintf(stderr, "hwbp: %s; see 'hwbp --help'\n", e.what());
    return 2;
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const hwbp::Error& e) {
    return hwbp::cli::fail(e.what());
  } catch (const std::exception& e) {
    return hwbp::cli::fail(e.what());
  }
  return 2;
}
