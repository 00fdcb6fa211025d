// errno -> hwbp::Error. The kernel says little (one errno for many causes: perf_event_open(2),
// ERRORS; kernel/events/core.c perf_event_open, kernel/events/hw_breakpoint.c and
// arch/x86/kernel/hw_breakpoint.c arch_build_bp_info), so each message combines the errno with what the library
// knew about the request (OpenContext) to name the likely cause and the fix in one line.
#include "perf/errors.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "perf/threads.hpp"

namespace hwbp::perf {
namespace {

using std::to_string;

std::string hex(std::uintptr_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// "thread 1234" / "CPU 0" / "thread 1234 on CPU 1": what the event was aimed at.
std::string target_name(const OpenContext& ctx) {
  if (ctx.pid == -1) return "CPU " + to_string(ctx.cpu);
  const pid_t tid = ctx.pid == 0 ? current_tid() : ctx.pid;
  std::string s = "thread " + to_string(tid);
  if (ctx.cpu >= 0) s += " on CPU " + to_string(ctx.cpu);
  return s;
}

std::string paranoid_text() {
  const int p = read_paranoid();
  return p == -100 ? std::string("unreadable") : to_string(p);
}

Error no_slots(const OpenContext& ctx) {
  const std::string where = target_name(ctx);
  std::string msg;
  if (ctx.slots_total == 0) {
    msg = "no free debug-register slot on " + where +
          " (the number of slots this kernel grants is unknown; hwbp's own watches, a debugger or "
          "CPU-wide breakpoints may hold them)";
  } else if (ctx.slots_ours_unknown || ctx.slots_ours > ctx.slots_total) {
    msg = "all " + to_string(ctx.slots_total) + " debug-register slots are in use on " + where +
          " (by this process's watches or by another debugger)";
  } else {
    const unsigned other = ctx.slots_total - ctx.slots_ours;
    msg = "all " + to_string(ctx.slots_total) + " debug-register slots are in use on " + where +
          " (" + to_string(ctx.slots_ours) + " by hwbp, " + to_string(other) + " elsewhere" +
          (other ? " — another debugger?" : "") + ")";
  }
  return Error(Errc::no_slots, msg + "; remove a watch or watch fewer bytes", ENOSPC);
}

Error permission(int err, const OpenContext& ctx) {
  const int p = read_paranoid();
  const std::string cur = "perf_event_paranoid is " + paranoid_text();
  const char* name = err == EPERM ? "EPERM" : "EACCES";
  std::string msg;
  if (p >= 3) {
    // Out-of-tree "perf lockdown" patches (Debian, Android): unprivileged perf is off entirely.
    msg = cur + ", which disables perf events for unprivileged users on this kernel; run `sysctl "
                "kernel.perf_event_paranoid=2` or grant CAP_PERFMON";
  } else if (ctx.pid == -1) {
    msg = "CPU-bound breakpoints (pid -1) need perf_event_paranoid <= 0 or CAP_PERFMON (" + cur +
          "); watch a thread instead, run as root / grant CAP_PERFMON, or `sysctl "
          "kernel.perf_event_paranoid=0`";
  } else if (ctx.attr && !ctx.attr->exclude_kernel) {
    msg = "seeing kernel-mode accesses (exclude_kernel=0) needs perf_event_paranoid <= 1 or "
          "CAP_PERFMON (" + cur + "); keep exclude_kernel, grant CAP_PERFMON, or `sysctl "
          "kernel.perf_event_paranoid=1`";
  } else if (err == EPERM) {
    msg = "perf_event_open was refused (EPERM) for " + target_name(ctx) +
          ": a seccomp filter (containers: run with --cap-add PERFMON or a profile allowing "
          "perf_event_open) or a kernel-address breakpoint without CAP_SYS_ADMIN (" + cur + ")";
  } else {
    msg = std::string("not allowed to watch ") + target_name(ctx) + " (" + name + ", " + cur +
          "): it belongs to another user or ptrace access is denied (Yama ptrace_scope; sigtrap "
          "on another thread needs CAP_PERFMON + CAP_KILL); run as its user or grant CAP_PERFMON";
  }
  return Error(Errc::permission, msg, err);
}

// x86-64 and aarch64 user space ends at 1 << 47 / 1 << 48 (4-level paging / 48-bit VA).
constexpr std::uintptr_t kUserLimit =
#if defined(__x86_64__)
    std::uintptr_t{1} << 47;
#else
    std::uintptr_t{1} << 48;
#endif

// The kernel's EINVAL has a dozen causes (perf_event_open(2)); re-check the attr against the
// rules in the order the kernel applies them and name the first one broken.
std::string invalid_field(const OpenContext& ctx) {
  if (ctx.pid == -1 && ctx.cpu == -1) return "pid -1 needs a CPU number (pid = cpu = -1 is invalid)";
  const BreakpointAttr* a = ctx.attr;
  if (!a) return "the kernel rejected the breakpoint attributes (no details available)";
  if (a->sigtrap && !a->remove_on_exec) return "sigtrap requires remove_on_exec";
  if (a->inherit_thread && !a->inherit) return "inherit_thread requires inherit";
  if (a->sigtrap && ctx.pid == -1) return "sigtrap needs a thread target, not a CPU-bound event";
  const unsigned t = static_cast<unsigned>(a->type);
  if (t == 0 || t > 4) return "access type " + to_string(t) + " is not r (1), w (2), rw (3) or x (4)";
  if (t == 4 && a->len != sizeof(long))
    return "execute breakpoints need length sizeof(long) = " + to_string(sizeof(long)) +
           " (got " + to_string(a->len) + ")";
#if defined(__x86_64__)
  if (t == 1) return "x86 has no read-only watchpoint; watch read_write instead";
  if (t != 4 && a->len != 1 && a->len != 2 && a->len != 4 && a->len != 8)
    return "length " + to_string(a->len) + " at " + hex(a->addr) +
           ": x86 watches 1, 2, 4 or 8 bytes; split the range";
  if (t != 4 && a->addr % a->len != 0)
    return "address " + hex(a->addr) + " is not aligned to its length " + to_string(a->len) +
           "; x86 needs natural alignment — watch smaller aligned pieces";
#endif
  if (a->addr >= kUserLimit || a->addr + a->len < a->addr)
    return "address " + hex(a->addr) + " is not a user-space address (or wraps around)";
  return "the kernel rejected the breakpoint attributes (type " + to_string(t) + ", length " +
         to_string(a->len) + " at " + hex(a->addr) + ") for a reason hwbp cannot tell";
}

Error invalid(const OpenContext& ctx) {
  return Error(Errc::invalid_request, "invalid breakpoint: " + invalid_field(ctx), EINVAL);
}

std::string nofile_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return "unknown";
  return rl.rlim_cur == RLIM_INFINITY ? std::string("unlimited") : to_string(rl.rlim_cur);
}

Error unsupported(int err) {
  std::string msg;
  switch (err) {
    case ENOENT:
    case ENODEV:
      msg = "this kernel/CPU has no hardware breakpoint PMU (PERF_TYPE_BREAKPOINT): "
            "CONFIG_HAVE_HW_BREAKPOINT is off or the hypervisor hides the debug registers";
      break;
    case ENOSYS:
      msg = "perf_event_open is unavailable: kernel without CONFIG_PERF_EVENTS, or the syscall "
            "is filtered (containers: allow perf_event_open / add CAP_PERFMON)";
      break;
    case EOPNOTSUPP:
      msg = "the breakpoint PMU does not support this request (e.g. a range length needing AMD "
            "BPEXT, or a breakpoint class with no slots on this CPU)";
      break;
    case ENOTTY:
      msg = "PERF_EVENT_IOC_MODIFY_ATTRIBUTES needs Linux 4.17+; close and reopen the event "
            "instead";
      break;
    default:  // E2BIG
      msg = "the kernel is older than the headers hwbp was built with: it rejected unknown "
            "perf_event_attr fields (E2BIG); rebuild against this kernel's headers";
      break;
  }
  return Error(Errc::unsupported, msg, err);
}

Error system(int err, const OpenContext& ctx) {
  std::string msg;
  if (err == EMFILE) {
    msg = "out of file descriptors (RLIMIT_NOFILE = " + nofile_limit() +
          "): hwbp needs one per watched chunk and thread; raise `ulimit -n`";
  } else if (err == ENFILE) {
    msg = "the system-wide file limit is reached (fs.file-max); close files or raise it";
  } else if (err == ENOMEM) {
    msg = "the kernel is out of memory for the perf event on " + target_name(ctx);
  } else {
    msg = std::string("perf_event_open failed on ") + target_name(ctx) + ": " +
          std::strerror(err);
  }
  return Error(Errc::system, msg, err);
}

}  // namespace

Error error_from_errno(int err, const OpenContext& ctx) {
  switch (err) {
    case ENOSPC: return no_slots(ctx);
    case EACCES:
    case EPERM: return permission(err, ctx);
    case ESRCH:
      return Error(Errc::no_such_thread,
                   target_name(ctx) + " does not exist (it has exited); nothing to watch there — "
                   "skip it when scanning threads",
                   err);
    case EINVAL: return invalid(ctx);
    case ENOENT:
    case ENODEV:
    case ENOSYS:
    case EOPNOTSUPP:
    case ENOTTY:
    case E2BIG: return unsupported(err);
    default: return system(err, ctx);
  }
}

int read_paranoid() noexcept {
  const int fd = ::open("/proc/sys/kernel/perf_event_paranoid", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -100;
  char buf[16] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return -100;
  char* end = nullptr;
  const long v = std::strtol(buf, &end, 10);
  return end == buf ? -100 : static_cast<int>(v);
}

}  // namespace hwbp::perf
