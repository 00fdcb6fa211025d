#include "kvm/kvm_fd.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hwbp::kvm {

OwnedFd::~OwnedFd() {
  if (fd_ >= 0) ::close(fd_);
}

OwnedFd& OwnedFd::operator=(OwnedFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

Error ioctl_error(const char* what, int err) {
  Errc code = Errc::system;
  if (err == ENOTTY || err == EOPNOTSUPP || err == ENOSYS) code = Errc::unsupported;
  if (err == EPERM || err == EACCES) code = Errc::permission;
  return Error(code, std::string(what) + " failed: " + std::strerror(err), err);
}

int checked_ioctl(int fd, unsigned long request, const void* arg, const char* what) {
  const int rc = ::ioctl(fd, request, arg);
  if (rc < 0) throw ioctl_error(what, errno);
  return rc;
}

FdKind fd_kind(int fd, std::string* detail) {
  if (fd < 0 || ::fcntl(fd, F_GETFD) < 0) return FdKind::closed;
  char link[64];
  char target[256];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, target, sizeof target - 1);
  if (n < 0) return FdKind::other;
  target[n] = '\0';
  if (detail) *detail = target;
  if (std::strcmp(target, "anon_inode:kvm-vm") == 0) return FdKind::kvm_vm;
  if (std::strncmp(target, "anon_inode:kvm-vcpu:", 20) == 0) return FdKind::kvm_vcpu;
  return FdKind::other;
}

}  // namespace hwbp::kvm
