// The tests' own minimal tracer: starts a test program under ptrace (every thread PTRACE_SEIZEd,
// like `hwbp run`), stopped at its exec event before its first instruction, with stdin and
// stdout on pipes (a thread collects stdout lines, so a program never blocks on a full pipe).
// ptrace requests are made by the constructing thread only, as the kernel requires.
#pragma once

#include <sys/ptrace.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hwbp::ptrace::test {

constexpr long kTraceOptions = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT |
                               PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACESYSGOOD;

class TracedChild {
 public:
  // `limit`: a watchdog kills the program after that long, so a broken test fails, not hangs.
  explicit TracedChild(const std::vector<std::string>& argv, long options = kTraceOptions,
                       std::chrono::seconds limit = std::chrono::seconds(240));
  ~TracedChild();  // kills the program if it is still there
  TracedChild(const TracedChild&) = delete;
  TracedChild& operator=(const TracedChild&) = delete;

  pid_t pid() const noexcept { return pid_; }

  // The next line the program wrote (without '\n'), or nullopt after the timeout / at EOF.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Everything written so far (waits for EOF if `until_eof`).
  std::string output(bool until_eof = true);
  void write_stdin(const std::string& text);
  void close_stdin();

  // waitpid(tid or -1, __WALL): {tid, status}, nullopt when nothing is left to wait for.
  std::optional<std::pair<pid_t, int>> wait(pid_t tid = -1);
  bool timed_out() const { return timed_out_; }
  // The program's exit status once waited for (set by the caller's loop via note_exit).
  void note_exit(int status) { exit_status_ = status; }
  std::optional<int> exit_status() const { return exit_status_; }

  // Kills the program and reaps every task (used on failure paths and in the destructor).
  void kill();

 private:
  void collect_output(int fd);
  void watchdog(std::chrono::seconds limit);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::optional<int> exit_status_;
  std::thread reader_, watchdog_;
  std::condition_variable watchdog_cv_;
  bool done_ = false;
  std::atomic<bool> timed_out_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::string buffer_;
  std::deque<std::string> lines_;
  bool eof_ = false;
};

}  // namespace hwbp::ptrace::test
