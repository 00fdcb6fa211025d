// File descriptors at the KVM boundary: an owning RAII fd, ioctl with errors that say which
// call failed, and what kind of KVM object an fd someone handed us really is.
#pragma once

#include <string>
#include <utility>

#include "hwbp/error.hpp"

namespace hwbp::kvm {

class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) noexcept : fd_(fd) {}
  ~OwnedFd();
  OwnedFd(OwnedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& o) noexcept;
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// An ioctl that must succeed: throws hwbp::Error naming `what` and the errno (Errc::system, or
// Errc::unsupported for ENOTTY/EOPNOTSUPP/ENOSYS, Errc::permission for EPERM/EACCES).
int checked_ioctl(int fd, unsigned long request, const void* arg, const char* what);
Error ioctl_error(const char* what, int err);

enum class FdKind { closed, kvm_vm, kvm_vcpu, other };
// From the fd's /proc/self/fd link: KVM names its files anon_inode:kvm-vm and
// anon_inode:kvm-vcpu:N (virt/kvm/kvm_main.c). `detail` gets the link text.
FdKind fd_kind(int fd, std::string* detail = nullptr);

}  // namespace hwbp::kvm
