// /proc/PID/maps: the process's mappings with their protection, as the kernel reports them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hwbp::ptrace {

struct Mapping {
  std::uint64_t start = 0, end = 0;  // [start, end), page aligned
  int prot = 0;                      // PROT_READ | PROT_WRITE | PROT_EXEC
  bool shared = false;               // 's' (MAP_SHARED), else 'p'
  std::uint64_t offset = 0;
  std::string path;  // file path, "[heap]", "[stack]", "[vdso]", or empty
  bool contains(std::uint64_t a) const { return a >= start && a < end; }
};

// Parses the text of a maps file (pure; lines that do not parse are skipped).
std::vector<Mapping> parse_maps(std::string_view text);
// Reads /proc/PID/maps. Throws hwbp::Error if the process is gone.
std::vector<Mapping> read_maps(pid_t pid);
// The mapping holding addr, or nullptr.
const Mapping* find_mapping(const std::vector<Mapping>& maps, std::uint64_t addr);

}  // namespace hwbp::ptrace
