// hwbp: hardware watchpoints from the command line.
#include <cstdio>
#include <exception>

#include "command.hpp"
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
  try {
    app.parse(argc, argv);
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
