// One PERF_TYPE_BREAKPOINT event = one fd (include/uapi/linux/perf_event.h, perf_event_open(2)).
#include "perf/event.hpp"

#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "perf/capabilities.hpp"
#include "perf/errors.hpp"

namespace hwbp::perf {

static_assert(static_cast<unsigned>(core::HwType::read) == HW_BREAKPOINT_R);
static_assert(static_cast<unsigned>(core::HwType::write) == HW_BREAKPOINT_W);
static_assert(static_cast<unsigned>(core::HwType::read_write) == HW_BREAKPOINT_RW);
static_assert(static_cast<unsigned>(core::HwType::exec) == HW_BREAKPOINT_X);

void fill_attr(const BreakpointAttr& in, perf_event_attr& out) noexcept {
  std::memset(&out, 0, sizeof out);
  out.type = PERF_TYPE_BREAKPOINT;
  // A size larger than the running kernel knows is fine as long as the unknown tail is zero
  // (otherwise E2BIG), so sizeof of our headers' struct is always safe.
  out.size = sizeof out;
  out.bp_type = static_cast<std::uint32_t>(in.type);
  out.bp_addr = in.addr;
  out.bp_len = in.len;
  out.sample_period = in.sample_period;
  // Only matters for O_ASYNC / poll delivery: wake (and signal) at every overflow, as perf's
  // bp_signal tests do. Harmless for counting and sigtrap.
  out.wakeup_events = 1;
  out.disabled = in.disabled;
  out.inherit = in.inherit;
  out.inherit_thread = in.inherit_thread;
  out.exclude_kernel = in.exclude_kernel;
  out.exclude_hv = 1;
  out.remove_on_exec = in.remove_on_exec;
  out.sigtrap = in.sigtrap;
  out.sig_data = in.sig_data;
}

Event Event::open(const BreakpointAttr& attr, pid_t pid, int cpu) {
  Event ev;
  const int rc = try_open(attr, pid, cpu, ev);
  if (rc == 0) return ev;
  OpenContext ctx;
  ctx.attr = &attr;
  ctx.pid = pid;
  ctx.cpu = cpu;
  // The probe runs in a fresh child task, so it is safe to trigger from a full thread.
  // This layer does not know which of the slots are hwbp's.
  if (-rc == ENOSPC) ctx.slots_total = capabilities().slots;
  ctx.slots_ours_unknown = true;
  throw error_from_errno(-rc, ctx);
}

int Event::try_open(const BreakpointAttr& attr, pid_t pid, int cpu, Event& out) noexcept {
  perf_event_attr pa;
  fill_attr(attr, pa);
  // No glibc wrapper. CLOEXEC so an exec'ing process does not leak the fd (and its slot).
  const long fd = ::syscall(SYS_perf_event_open, &pa, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return -errno;
  out.close();
  out.fd_ = static_cast<int>(fd);
  out.attr_ = attr;
  return 0;
}

Event Event::adopt(int fd, const BreakpointAttr& identity) noexcept {
  Event ev;
  ev.fd_ = fd;
  ev.attr_ = identity;
  return ev;
}

Event::Event(Event&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), attr_(other.attr_) {}

Event& Event::operator=(Event&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    attr_ = other.attr_;
  }
  return *this;
}

Event::~Event() { close(); }

void Event::close() noexcept {
  // Closing releases the slot (and the inherited children's) immediately.
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int Event::enable() noexcept {
  if (fd_ < 0) return -EBADF;
  if (::ioctl(fd_, PERF_EVENT_IOC_ENABLE, 0) != 0) return -errno;
  attr_.disabled = false;
  return 0;
}

int Event::disable() noexcept {
  if (fd_ < 0) return -EBADF;
  if (::ioctl(fd_, PERF_EVENT_IOC_DISABLE, 0) != 0) return -errno;
  attr_.disabled = true;
  return 0;
}

int Event::modify(const BreakpointAttr& next) noexcept {
  if (fd_ < 0) return -EBADF;
  // The kernel (modify_user_hw_breakpoint_check, 4.17 commit 32ff77e8cc9e) copies bp_addr,
  // bp_type, bp_len and disabled into the old attr and memcmp()s the whole struct: every other
  // field, including sample_period, wakeup_events and the flag bits, must be what we opened with.
  // sig_data would be accepted since 2022 but is kept: callers must not change it implicitly.
  BreakpointAttr merged = attr_;
  merged.addr = next.addr;
  merged.len = next.len;
  merged.type = next.type;
  merged.disabled = next.disabled;
  // sig_data moves with the breakpoint (the kernel copies it on modify since 2022, commit
  // "perf: Copy perf_event_attr::sig_data on modification"): the library re-tags a slot
  // that now watches another chunk, so that a signal from the old chunk is recognised as stale.
  merged.sig_data = next.sig_data;
  perf_event_attr pa;
  fill_attr(merged, pa);
  // Internally disable, apply, re-enable unless disabled = 1; the count is preserved.
  if (::ioctl(fd_, PERF_EVENT_IOC_MODIFY_ATTRIBUTES, &pa) != 0) return -errno;
  attr_ = merged;
  return 0;
}

std::int64_t Event::count() const noexcept {
  if (fd_ < 0) return -EBADF;
  // No read_format: a single u64, the event's count plus its inherited children's.
  std::uint64_t value = 0;
  const ssize_t n = ::read(fd_, &value, sizeof value);
  if (n < 0) return -errno;
  if (n != static_cast<ssize_t>(sizeof value)) return -EIO;
  return static_cast<std::int64_t>(value);
}

}  // namespace hwbp::perf
