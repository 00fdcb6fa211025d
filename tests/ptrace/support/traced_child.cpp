#include "traced_child.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace hwbp::ptrace::test {

TracedChild::TracedChild(const std::vector<std::string>& argv, long options, std::chrono::seconds limit) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    // Stop so that the parent can PTRACE_SEIZE us; the exec then stops at PTRACE_EVENT_EXEC.
    ::raise(SIGSTOP);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  stdin_fd_ = in[1];
  reader_ = std::thread([this, fd = out[0]] { collect_output(fd); });
  watchdog_ = std::thread([this, limit] { watchdog(limit); });
  int status = 0;
  ::waitpid(pid_, &status, WUNTRACED);
  if (::ptrace(PTRACE_SEIZE, pid_, nullptr, options) != 0) {
    int e = errno;
    kill();
    throw std::runtime_error(std::string("PTRACE_SEIZE failed: ") + std::strerror(e));
  }
  ::kill(pid_, SIGCONT);
  for (;;) {
    if (::waitpid(pid_, &status, __WALL) != pid_ || !WIFSTOPPED(status)) {
      kill();
      throw std::runtime_error("test program " + argv[0] + " did not reach exec");
    }
    if ((status >> 16) == PTRACE_EVENT_EXEC) break;
    ::ptrace(PTRACE_CONT, pid_, nullptr, 0);  // the SIGSTOP/SIGCONT stops before exec
  }
}

TracedChild::~TracedChild() {
  kill();
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  watchdog_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  if (reader_.joinable()) reader_.join();
}

void TracedChild::kill() {
  if (pid_ <= 0 || exit_status_) return;
  ::kill(pid_, SIGKILL);
  for (;;) {
    int status = 0;
    pid_t who = ::waitpid(-1, &status, __WALL);
    if (who < 0 && errno == EINTR) continue;
    if (who < 0) break;
    if (WIFSTOPPED(status))
      ::ptrace(PTRACE_CONT, who, nullptr, 0);  // PTRACE_EVENT_EXIT stops
    else if (who == pid_)
      exit_status_ = status;
  }
  if (!exit_status_) exit_status_ = -1;
}

void TracedChild::collect_output(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    std::lock_guard<std::mutex> lock(mu_);
    if (n <= 0) {
      eof_ = true;
      cv_.notify_all();
      break;
    }
    for (ssize_t i = 0; i < n; ++i) {
      buffer_ += buf[i];
      if (buf[i] == '\n') {
        lines_.push_back(buffer_.substr(0, buffer_.size() - 1));
        buffer_.clear();
      }
    }
    cv_.notify_all();
  }
  ::close(fd);
}

std::optional<std::string> TracedChild::read_line(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return !lines_.empty() || eof_; });
  if (lines_.empty()) return std::nullopt;
  std::string l = lines_.front();
  lines_.pop_front();
  return l;
}

std::string TracedChild::output(bool until_eof) {
  std::unique_lock<std::mutex> lock(mu_);
  if (until_eof) cv_.wait_for(lock, std::chrono::seconds(30), [this] { return eof_; });
  std::string all;
  for (const auto& l : lines_) all += l + "\n";
  lines_.clear();
  return all + buffer_;
}

void TracedChild::write_stdin(const std::string& text) {
  if (::write(stdin_fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    throw std::runtime_error("write to the test program's stdin failed");
}

void TracedChild::close_stdin() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
}

std::optional<std::pair<pid_t, int>> TracedChild::wait(pid_t tid) {
  for (;;) {
    int status = 0;
    pid_t who = ::waitpid(tid, &status, __WALL);
    if (who > 0) return std::make_pair(who, status);
    if (errno != EINTR) return std::nullopt;
  }
}

void TracedChild::watchdog(std::chrono::seconds limit) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!watchdog_cv_.wait_for(lock, limit, [this] { return done_; })) {
    timed_out_ = true;
    ::kill(pid_, SIGKILL);  // waitpid in the test thread then returns: the test fails, not hangs
  }
}

}  // namespace hwbp::ptrace::test
