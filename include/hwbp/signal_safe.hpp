// A small async-signal-safe toolkit for hit callbacks, which run inside a SIGTRAP handler:
// no allocation, no locks, no stdio — only write(2) on a fixed buffer.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace hwbp::signal_safe {

// write(2) until everything is written or an error other than EINTR; keeps errno.
inline void write_all(int fd, const char* data, std::size_t len) noexcept {
  int saved = errno;
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data += n;
    len -= static_cast<std::size_t>(n);
  }
  errno = saved;
}

// One line built in a fixed buffer; excess is truncated, never overflowed.
class Line {
 public:
  Line& str(const char* s) noexcept {
    while (s != nullptr && *s != '\0') put(*s++);
    return *this;
  }
  Line& chr(char c) noexcept {
    put(c);
    return *this;
  }
  Line& dec(std::uint64_t v) noexcept {
    char tmp[24];
    int n = 0;
    do tmp[n++] = static_cast<char>('0' + v % 10); while ((v /= 10) != 0);
    while (n > 0) put(tmp[--n]);
    return *this;
  }
  Line& sdec(std::int64_t v) noexcept {
    if (v < 0) {
      put('-');
      return dec(0 - static_cast<std::uint64_t>(v));
    }
    return dec(static_cast<std::uint64_t>(v));
  }
  Line& hex(std::uint64_t v) noexcept {
    str("0x");
    char tmp[16];
    int n = 0;
    do tmp[n++] = "0123456789abcdef"[v & 0xf]; while ((v >>= 4) != 0);
    while (n > 0) put(tmp[--n]);
    return *this;
  }
  const char* data() const noexcept { return buf_; }
  std::size_t size() const noexcept { return len_; }
  // Writes the line plus '\n' to fd (stderr by default) and clears it.
  void write(int fd = 2) noexcept {
    put('\n');
    write_all(fd, buf_, len_);
    len_ = 0;
  }

 private:
  void put(char c) noexcept {
    if (len_ < sizeof buf_) buf_[len_++] = c;
  }
  char buf_[512];
  std::size_t len_ = 0;
};

}  // namespace hwbp::signal_safe
