#include "ptrace/remote_memory.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "ptrace/sys_error.hpp"

namespace hwbp::ptrace {
namespace {

int open_mem(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/mem";
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw sys_error("cannot open " + path, errno);
  return fd;
}

// pread/pwrite loop: /proc/PID/mem transfers at most a page per kernel iteration but returns
// short counts only at an unmapped page (then 0 or -EIO).
template <typename Op>
bool transfer(Op op, std::uint64_t addr, std::size_t len) {
  std::size_t done = 0;
  while (done < len) {
    ssize_t n = op(done, static_cast<off_t>(addr + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

RemoteMemory::RemoteMemory(pid_t pid) : pid_(pid), fd_(open_mem(pid)) {}

RemoteMemory::~RemoteMemory() {
  if (fd_ >= 0) ::close(fd_);
}

RemoteMemory::RemoteMemory(RemoteMemory&& other) noexcept
    : pid_(other.pid_), fd_(std::exchange(other.fd_, -1)) {}

RemoteMemory& RemoteMemory::operator=(RemoteMemory&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    pid_ = other.pid_;
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void RemoteMemory::reopen() {
  int fd = open_mem(pid_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

bool RemoteMemory::try_read(std::uint64_t addr, std::span<std::uint8_t> out) const noexcept {
  return transfer(
      [&](std::size_t done, off_t off) { return ::pread(fd_, out.data() + done, out.size() - done, off); },
      addr, out.size());
}

void RemoteMemory::read(std::uint64_t addr, std::span<std::uint8_t> out) const {
  if (!try_read(addr, out))
    throw sys_error(fmt::format("cannot read {} bytes at {:#x} in process {}", out.size(), addr, pid_),
                    errno);
}

std::vector<std::uint8_t> RemoteMemory::read(std::uint64_t addr, std::size_t len) const {
  std::vector<std::uint8_t> out(len);
  read(addr, out);
  return out;
}

bool RemoteMemory::try_write(std::uint64_t addr, std::span<const std::uint8_t> data) const noexcept {
  return transfer(
      [&](std::size_t done, off_t off) { return ::pwrite(fd_, data.data() + done, data.size() - done, off); },
      addr, data.size());
}

void RemoteMemory::write(std::uint64_t addr, std::span<const std::uint8_t> data) const {
  if (!try_write(addr, data))
    throw sys_error(fmt::format("cannot write {} bytes at {:#x} in process {}", data.size(), addr, pid_),
                    errno);
}

}  // namespace hwbp::ptrace
