// Subcommands register themselves (one file per command), so commands can be added without
// touching main.cpp.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace hwbp::cli {

// A command adds its CLI::App subcommand and returns the function that runs it (exit code).
using CommandSetup = std::function<std::function<int()>(CLI::App& app)>;

struct CommandRegistry {
  static std::vector<CommandSetup>& all() {
    static std::vector<CommandSetup> setups;
    return setups;
  }
};

struct RegisterCommand {
  explicit RegisterCommand(CommandSetup setup) { CommandRegistry::all().push_back(std::move(setup)); }
};

// One-line error to stderr ("hwbp: ..."), returns the exit code to use (2).
int fail(const std::string& message);

}  // namespace hwbp::cli
