#include "ptrace/memory_map.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

#include "ptrace/sys_error.hpp"

namespace hwbp::ptrace {
namespace {

bool parse_hex(std::string_view s, std::uint64_t& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// "start-end perms offset dev inode   path"
bool parse_line(std::string_view line, Mapping& m) {
  auto field = [&line]() {
    std::size_t b = line.find_first_not_of(' ');
    if (b == std::string_view::npos) return std::string_view{};
    line.remove_prefix(b);
    std::size_t e = line.find(' ');
    std::string_view f = line.substr(0, e);
    line.remove_prefix(e == std::string_view::npos ? line.size() : e);
    return f;
  };
  std::string_view range = field(), perms = field(), offset = field();
  field();  // dev
  field();  // inode
  std::size_t dash = range.find('-');
  if (dash == std::string_view::npos || perms.size() < 4) return false;
  if (!parse_hex(range.substr(0, dash), m.start) || !parse_hex(range.substr(dash + 1), m.end) ||
      !parse_hex(offset, m.offset))
    return false;
  m.prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
           (perms[2] == 'x' ? PROT_EXEC : 0);
  m.shared = perms[3] == 's';
  std::size_t b = line.find_first_not_of(' ');
  m.path = b == std::string_view::npos ? "" : std::string(line.substr(b));
  return true;
}

}  // namespace

std::vector<Mapping> parse_maps(std::string_view text) {
  std::vector<Mapping> maps;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    Mapping m;
    if (parse_line(line, m)) maps.push_back(std::move(m));
  }
  return maps;
}

std::vector<Mapping> read_maps(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/maps";
  std::ifstream in(path);
  if (!in) throw sys_error("cannot read " + path, errno ? errno : ESRCH);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_maps(ss.str());
}

const Mapping* find_mapping(const std::vector<Mapping>& maps, std::uint64_t addr) {
  for (const Mapping& m : maps)
    if (m.contains(addr)) return &m;
  return nullptr;
}

}  // namespace hwbp::ptrace
