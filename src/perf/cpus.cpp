#include "perf/cpus.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace hwbp::perf {
namespace {

// Parses a kernel CPU list such as "0-3,8,10-11".
std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part.empty()) continue;
    std::size_t dash = part.find('-');
    int first = std::stoi(part.substr(0, dash));
    int last = dash == std::string::npos ? first : std::stoi(part.substr(dash + 1));
    for (int c = first; c <= last; ++c) cpus.push_back(c);
  }
  return cpus;
}

std::vector<int> read_cpu_list(const char* path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return {};
  try {
    return parse_cpu_list(line);
  } catch (...) {
    return {};
  }
}

}  // namespace

unsigned possible_cpus() noexcept {
  std::vector<int> cpus = read_cpu_list("/sys/devices/system/cpu/possible");
  if (!cpus.empty()) return static_cast<unsigned>(cpus.back() + 1);
  long n = sysconf(_SC_NPROCESSORS_CONF);
  return n > 0 ? static_cast<unsigned>(n) : 1u;
}

std::vector<int> online_cpus() {
  std::vector<int> cpus = read_cpu_list("/sys/devices/system/cpu/online");
  if (cpus.empty()) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (int c = 0; c < (n > 0 ? n : 1); ++c) cpus.push_back(c);
  }
  return cpus;
}

}  // namespace hwbp::perf
