// RAII handle for one PERF_TYPE_BREAKPOINT event (one fd). Every syscall result is turned into
// a typed hwbp::Error whose message says what happened and what to do.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "core/arch.hpp"

struct perf_event_attr;

namespace hwbp::perf {

struct BreakpointAttr {
  std::uintptr_t addr = 0;
  unsigned len = 1;
  core::HwType type = core::HwType::write;
  bool disabled = true;         // open disabled; enable after the whole set is open
  bool inherit = false;         // copy to threads the target creates later
  bool inherit_thread = false;  // ...but only threads (CLONE_THREAD), not fork children
  bool sigtrap = false;         // synchronous SIGTRAP to the hitting thread (needs remove_on_exec)
  bool remove_on_exec = false;
  std::uint64_t sig_data = 0;   // si_perf_data in the SIGTRAP siginfo
  bool exclude_kernel = true;   // required at perf_event_paranoid >= 2 without CAP_PERFMON
  // Hits per overflow (signal / sigtrap / sample). 1 = every hit; 0 = count only. MODIFY cannot
  // change it (the kernel compares it).
  std::uint64_t sample_period = 1;
};

// Fills a perf_event_attr (sample_period from `in`, default 1; wakeup_events 1; exclude_hv)
// for a breakpoint.
void fill_attr(const BreakpointAttr& in, perf_event_attr& out) noexcept;

class Event {
 public:
  Event() = default;
  // perf_event_open(attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC). pid 0 = calling thread,
  // pid -1 = any task on `cpu` (needs CAP_PERFMON at paranoid >= 1). Throws hwbp::Error.
  static Event open(const BreakpointAttr& attr, pid_t pid, int cpu = -1);
  // Same, but returns the negative errno instead of throwing (for probes and hot paths).
  static int try_open(const BreakpointAttr& attr, pid_t pid, int cpu, Event& out) noexcept;
  // Takes ownership of an fd of another perf event kind that stands for a breakpoint (a uprobe:
  // perf/uprobe.hpp); `identity` says which (type exec, its address). modify() does not apply.
  static Event adopt(int fd, const BreakpointAttr& identity) noexcept;

  Event(Event&& other) noexcept;
  Event& operator=(Event&& other) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event();

  bool valid() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }
  const BreakpointAttr& attr() const noexcept { return attr_; }

  // IOC_ENABLE / IOC_DISABLE (apply to inherited children too). Return 0 or -errno.
  // On success attr().disabled tracks the new state.
  int enable() noexcept;
  int disable() noexcept;
  // PERF_EVENT_IOC_MODIFY_ATTRIBUTES: new addr/len/type/disabled/sig_data, everything else
  // identical. Only those fields of `next` are used; the rest is taken from attr() (the kernel
  // rejects any other difference with EINVAL; sig_data is copied since 2022).
  // Reaches inherited children. Returns 0 or -errno (-ENOTTY: kernel < 4.17); on success
  // attr() reflects the new values.
  int modify(const BreakpointAttr& next) noexcept;
  // Hit count (includes inherited children that have exited). -errno on failure.
  std::int64_t count() const noexcept;
  void close() noexcept;

 private:
  int fd_ = -1;
  BreakpointAttr attr_{};
};

}  // namespace hwbp::perf
