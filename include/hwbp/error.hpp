// Typed errors. Every message says what went wrong and what to do about it.
#pragma once

#include <stdexcept>
#include <string>

namespace hwbp {

enum class Errc {
  invalid_request,  // the watch request itself is malformed (length, alignment, access, address)
  no_slots,         // not enough debug-register slots (ENOSPC or planned overflow)
  permission,       // EACCES / EPERM: perf_event_paranoid, capabilities, ptrace rules
  no_such_thread,   // ESRCH: the target thread or process is gone
  unsupported,      // the kernel or CPU lacks a needed feature (ENOSYS, ENODEV, EOPNOTSUPP, ENOTTY)
  invalid_state,    // API misuse: e.g. a moved-from or removed watch
  system,           // any other system error (EMFILE, ENOMEM, ...)
};

const char* to_string(Errc code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(Errc code, std::string message, int sys_errno = 0)
      : std::runtime_error(std::move(message)), code_(code), errno_(sys_errno) {}
  Errc code() const noexcept { return code_; }
  // The errno the kernel returned, or 0 when the error was found without a syscall.
  int sys_errno() const noexcept { return errno_; }

 private:
  Errc code_;
  int errno_;
};

}  // namespace hwbp
