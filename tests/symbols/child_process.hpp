// Runs a fixture program as a child: reads its one-line report, keeps it alive (blocked on its
// stdin) while the test inspects it, and reaps it on destruction.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

namespace hwbp::symbols::test {

class ChildProcess {
 public:
  explicit ChildProcess(const std::string& path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The values of the report line "key=value key=value ...".
  const std::map<std::string, std::string>& report() const { return report_; }
  std::uint64_t address(const std::string& key) const;  // parses "0x..." values
  int number(const std::string& key) const;

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::map<std::string, std::string> report_;
};

}  // namespace hwbp::symbols::test
