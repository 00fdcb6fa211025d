// Start-up probe: every capability is established by a real perf_event_open on this kernel
// (like perf's bp_account test), never inferred from the version string. Older kernels reject
// attr bits they do not know (they fall into __reserved_1 -> EINVAL), so an open is a faithful
// feature test.
#include "perf/capabilities.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <mutex>

#include "perf/errors.hpp"
#include "perf/event.hpp"

namespace hwbp::perf {
namespace {

constexpr unsigned kMaxProbe = 32;  // far above any known arch (x86: 4, arm64: <= 16)

// Private target: nothing else in the process watches or writes these bytes, and the probe
// events are opened disabled, so they never fire.
alignas(64) volatile unsigned char g_probe_bytes[kMaxProbe];

BreakpointAttr probe_attr(unsigned i = 0) {
  BreakpointAttr a;
  a.addr = reinterpret_cast<std::uintptr_t>(&g_probe_bytes[i]);
  a.len = 1;
  a.type = core::HwType::write;
  a.disabled = true;  // slots are reserved at open time, enabled or not
  return a;
}

// Everything the kernel is asked, packed so a child process can send it through a pipe.
struct RawProbe {
  unsigned slots = 0;
  int first_err = 0;  // errno of the refusal that ended the slot count (0: cap reached)
  bool remove_on_exec = false;
  bool sigtrap = false;
  bool inherit_thread = false;
  bool modify = false;
};

// Open distinct 1-byte write watches on the calling task until the kernel refuses.
// No allocation: this also runs in a forked child of a possibly multi-threaded process.
unsigned count_slots(int& first_err) {
  Event held[kMaxProbe];
  unsigned n = 0;
  first_err = 0;
  for (; n < kMaxProbe; ++n) {
    const int rc = Event::try_open(probe_attr(n), 0, -1, held[n]);
    if (rc != 0) {
      first_err = -rc;
      break;
    }
  }
  return n;  // all closed on return
}

// Feature bits are checked by perf_copy_attr()/perf_event_open() before the PMU reserves a
// slot, so ENOSPC also proves the kernel knows the bit; an old kernel says EINVAL.
bool opens(const BreakpointAttr& a) {
  Event ev;
  const int rc = Event::try_open(a, 0, -1, ev);
  return rc == 0 || rc == -ENOSPC;
}

bool probe_modify() {
  Event ev;
  if (Event::try_open(probe_attr(), 0, -1, ev) != 0) return false;
  return ev.modify(ev.attr()) == 0;  // identical attr; ENOTTY before 4.17
}

RawProbe probe_raw() {
  RawProbe r;
  r.slots = count_slots(r.first_err);
  BreakpointAttr a = probe_attr();
  a.remove_on_exec = true;
  r.remove_on_exec = opens(a);
  a.sigtrap = true;  // sigtrap requires remove_on_exec (EINVAL otherwise)
  r.sigtrap = opens(a);
  BreakpointAttr b = probe_attr();
  b.inherit = true;  // inherit_thread requires inherit
  b.inherit_thread = true;
  r.inherit_thread = opens(b);
  r.modify = probe_modify();
  return r;
}

// Slots are per task, and the calling thread may already hold some (hwbp's own watches, a
// test's events, a debugger's): counting there would cache a too-small number forever. A fresh
// child process starts with no events except inherited ones without inherit_thread (hwbp's
// thread-coverage events use inherit_thread, so they stay behind). Raw clone, not fork(): no
// pthread_atfork handlers run, so locks the caller holds cannot deadlock the probe. The child
// only makes syscalls (async-signal-safe) and _exit()s.
bool probe_in_child(RawProbe& out) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  const long pid = ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) {
    const RawProbe r = probe_raw();
    const ssize_t w = ::write(fds[1], &r, sizeof r);
    ::_exit(w == static_cast<ssize_t>(sizeof r) ? 0 : 1);
  }
  ::close(fds[1]);
  bool ok = false;
  if (pid > 0) {
    ssize_t n;
    do n = ::read(fds[0], &out, sizeof out);
    while (n < 0 && errno == EINTR);
    ok = n == static_cast<ssize_t>(sizeof out);
    // ECHILD if the process ignores SIGCHLD (auto-reaped); the pipe already answered.
    while (::waitpid(static_cast<pid_t>(pid), nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  ::close(fds[0]);
  return ok;
}

std::string kernel_release() {
  utsname u{};
  return ::uname(&u) == 0 ? std::string(u.release) : std::string("unknown");
}

const char* yes_no(bool b) { return b ? "yes" : "no"; }

}  // namespace

Capabilities probe_capabilities() {
  Capabilities c;
  c.paranoid = read_paranoid();
  c.kernel_release = kernel_release();
  RawProbe r;
  // Fallback when clone is refused (seccomp, RLIMIT_NPROC): probe on the calling thread.
  if (!probe_in_child(r)) r = probe_raw();
  c.slots = r.slots;
  // ENOSPC on the very first open: the PMU exists, but the task's slots are all taken
  // (CPU-bound events or, in the fallback, this thread's own).
  c.breakpoints = r.slots > 0 || r.first_err == ENOSPC;
  if (r.slots == 0) c.open_errno = r.first_err;
  if (!c.breakpoints) return c;
  c.remove_on_exec = r.remove_on_exec;
  c.sigtrap = r.sigtrap;
  c.inherit_thread = r.inherit_thread;
  c.modify = r.modify;
  return c;
}

const Capabilities& capabilities() {
  static std::once_flag once;
  static Capabilities caps;
  std::call_once(once, [] {
    caps = probe_capabilities();
  });
  return caps;
}

std::string Capabilities::summary() const {
  std::string s;
  s += "kernel: " + kernel_release + "\n";
  s += std::string("perf breakpoints: ") + yes_no(breakpoints);
  if (!breakpoints) s += " (perf_event_open errno " + std::to_string(open_errno) + ")";
  s += "\n";
  s += "debug-register slots per thread: " + std::to_string(slots) + "\n";
  s += std::string("sigtrap (5.13+): ") + yes_no(sigtrap) + "\n";
  s += std::string("remove_on_exec (5.13+): ") + yes_no(remove_on_exec) + "\n";
  s += std::string("inherit_thread (5.13+): ") + yes_no(inherit_thread) + "\n";
  s += std::string("modify ioctl (4.17+): ") + yes_no(modify) + "\n";
  s += "perf_event_paranoid: " +
       (paranoid == -100 ? std::string("unreadable") : std::to_string(paranoid)) + "\n";
  return s;
}

}  // namespace hwbp::perf
