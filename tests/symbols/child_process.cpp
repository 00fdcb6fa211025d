#include "child_process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace hwbp::symbols::test {
namespace {

std::string read_line(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

std::map<std::string, std::string> parse_report(const std::string& line) {
  std::map<std::string, std::string> out;
  std::istringstream in(line);
  std::string field;
  while (in >> field) {
    auto eq = field.find('=');
    if (eq != std::string::npos) out[field.substr(0, eq)] = field.substr(eq + 1);
  }
  return out;
}

}  // namespace

ChildProcess::ChildProcess(const std::string& path) {
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
  int rc = posix_spawn(&pid_, path.c_str(), &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  stdin_fd_ = in_pipe[1];
  if (rc != 0) {
    ::close(out_pipe[0]);
    throw std::runtime_error("posix_spawn " + path + " failed");
  }
  std::string line = read_line(out_pipe[0]);  // returns once the child has set everything up
  ::close(out_pipe[0]);
  report_ = parse_report(line);
  if (report_.empty()) throw std::runtime_error("no report from " + path);
}

ChildProcess::~ChildProcess() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);  // EOF: the child exits
  if (pid_ > 0) {
    int status;
    ::waitpid(pid_, &status, 0);
  }
}

std::uint64_t ChildProcess::address(const std::string& key) const {
  return std::stoull(report_.at(key), nullptr, 16);
}

int ChildProcess::number(const std::string& key) const { return std::stoi(report_.at(key)); }

}  // namespace hwbp::symbols::test
