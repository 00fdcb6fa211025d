// `hwbp version`: the library version and what this machine grants.
#include <cstdio>

#include "command.hpp"
#include "hwbp/hwbp.hpp"

namespace {
hwbp::cli::RegisterCommand reg([](CLI::App& app) {
  app.add_subcommand("version", "print hwbp's version");
  return [] {
    std::printf("hwbp 0.1.0\n");
    return 0;
  };
});
}  // namespace
