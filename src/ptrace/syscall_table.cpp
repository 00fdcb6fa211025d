#include "ptrace/syscall_table.hpp"

#include <sys/syscall.h>

#include <algorithm>
#include <cstdio>

namespace hwbp::ptrace {
namespace {

using Kind = SyscallEffect::Kind;
using Args = std::array<std::uint64_t, 6>;

// Kernel constants (uapi), spelled out so the table does not depend on which libc headers
// define them.
constexpr std::uint64_t kMapFixed = 0x10, kMapFixedNoreplace = 0x100000;
constexpr std::uint64_t kMadvDontneed = 4, kMadvFree = 8, kMadvRemove = 9, kMadvDontneedLocked = 24;
constexpr std::uint64_t kCloneParentSettid = 0x00100000, kClonePidfd = 0x00001000;
constexpr std::uint64_t kFutexCmdMask = ~(128ULL | 256ULL);  // FUTEX_PRIVATE_FLAG, CLOCK_REALTIME
constexpr std::size_t kMaxVectors = 1024;  // UIO_MAXIOV

constexpr std::uint64_t kStat = 144, kStatx = 256, kStatfs = 120, kTimespec = 16, kTimeval = 16,
                        kRusage = 144, kSiginfo = 128, kItimerspec = 32, kEpollEvent = 12, kPollfd = 8,
                        kMsghdr = 56, kMmsghdr = 64, kIoEvent = 32, kTimex = 208;

std::uint64_t u32_at(const ArgumentReader& read, std::uint64_t addr) {
  std::uint32_t v = 0;
  return addr && read(addr, &v, sizeof v) ? v : 0;
}

SyscallEffect effect(Kind kind, const char* name) {
  SyscallEffect e;
  e.kind = kind;
  e.name = name;
  return e;
}

// Adds [addr, addr + len) when both are non-zero (a null pointer means "not wanted").
void out(SyscallEffect& e, std::uint64_t addr, std::uint64_t len) {
  if (addr != 0 && len != 0) e.outputs.push_back({addr, len});
}

SyscallEffect released(const char* name, std::initializer_list<OutputRange> ranges) {
  SyscallEffect e = effect(Kind::released, name);
  for (const OutputRange& r : ranges) out(e, r.addr, r.len);
  return e;
}

SyscallEffect redirect(const char* name, const Args& a, int buf, int len) {
  SyscallEffect e = effect(Kind::redirect, name);
  e.arg = buf;
  e.len_arg = len;
  out(e, a[std::size_t(buf)], a[std::size_t(len)]);
  return e;
}

// The buffers of an iovec array (struct iovec: base, len).
std::vector<OutputRange> iovecs(const ArgumentReader& read, std::uint64_t iov, std::uint64_t count) {
  std::vector<OutputRange> v;
  count = std::min<std::uint64_t>(count, kMaxVectors);
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t pair[2] = {0, 0};
    if (!read(iov + 16 * i, pair, sizeof pair)) break;
    if (pair[0] && pair[1]) v.push_back({pair[0], pair[1]});
  }
  return v;
}

SyscallEffect redirect_iov(const char* name, const Args& a, const ArgumentReader& read, int arg) {
  SyscallEffect e = effect(Kind::redirect_iov, name);
  e.arg = arg;
  e.outputs = iovecs(read, a[std::size_t(arg)], a[std::size_t(arg) + 1]);
  return e;
}

// struct msghdr: name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48.
void msghdr_outputs(SyscallEffect& e, const ArgumentReader& read, std::uint64_t msg) {
  std::uint64_t h[7] = {};
  if (!msg || !read(msg, h, sizeof h)) return;
  out(e, msg, kMsghdr);  // the kernel writes msg_namelen, msg_controllen and msg_flags back
  out(e, h[0], h[1] & 0xffffffffu);
  for (const OutputRange& r : iovecs(read, h[2], h[3])) e.outputs.push_back(r);
  out(e, h[4], h[5]);
}

SyscallEffect ioctl_effect(const Args& a) {
  // _IOC encoding (asm-generic/ioctl.h): dir in bits 30-31 (2 = _IOC_READ: the kernel writes),
  // size in bits 16-29.
  const std::uint64_t cmd = a[1] & 0xffffffffu;
  std::uint64_t size = 0;
  if ((cmd >> 30) & 2) size = (cmd >> 16) & 0x3fff;
  // Classic tty ioctls without an encoded size.
  switch (cmd) {
    case 0x5401: size = 60; break;  // TCGETS: struct termios
    case 0x5413: size = 8; break;   // TIOCGWINSZ
    case 0x541B: size = 4; break;   // FIONREAD
    case 0x540F: size = 4; break;   // TIOCGPGRP
  }
  return released("ioctl", {{a[2], size}});
}

SyscallEffect futex_effect(const Args& a) {
  switch (a[1] & kFutexCmdMask) {
    case 5: return released("futex", {{a[4], 4}});  // FUTEX_WAKE_OP: *uaddr2
    // LOCK_PI, UNLOCK_PI, TRYLOCK_PI, LOCK_PI2: the futex word itself
    case 6:
    case 7:
    case 8:
    case 13: return released("futex", {{a[0], 4}});
    // WAIT_REQUEUE_PI, CMP_REQUEUE_PI: both words
    case 11:
    case 12: return released("futex", {{a[0], 4}, {a[4], 4}});
    default: return effect(Kind::none, "futex");  // WAIT/WAKE only read the word
  }
}

}  // namespace

SyscallEffect syscall_effect(long nr, const Args& a, const ArgumentReader& read) {
  switch (nr) {
    // ---- the read family: redirected -----------------------------------------------------
    case SYS_read: return redirect("read", a, 1, 2);
    case SYS_pread64: return redirect("pread64", a, 1, 2);
    case SYS_getrandom: return redirect("getrandom", a, 0, 1);
    case SYS_getdents64: return redirect("getdents64", a, 1, 2);
    case SYS_getdents: return redirect("getdents", a, 1, 2);
    case SYS_readlink: return redirect("readlink", a, 1, 2);
    case SYS_readlinkat: return redirect("readlinkat", a, 2, 3);
    case SYS_getcwd: return redirect("getcwd", a, 0, 1);
    case SYS_readv: return redirect_iov("readv", a, read, 1);
    case SYS_preadv: return redirect_iov("preadv", a, read, 1);
    case SYS_preadv2: return redirect_iov("preadv2", a, read, 1);
    case SYS_process_vm_readv: return redirect_iov("process_vm_readv", a, read, 1);
    case SYS_recvfrom: {
      SyscallEffect e = redirect("recvfrom", a, 1, 2);
      if (a[4] && a[5]) e.extra = {{a[4], u32_at(read, a[5])}, {a[5], 4}};
      return e;
    }
    case SYS_mq_timedreceive: {
      SyscallEffect e = redirect("mq_timedreceive", a, 1, 2);
      if (a[3]) e.extra = {{a[3], 4}};
      return e;
    }
    // ---- other known writers: released for the call ---------------------------------------
    case SYS_recvmsg: {
      SyscallEffect e = effect(Kind::released, "recvmsg");
      msghdr_outputs(e, read, a[1]);
      return e;
    }
    case SYS_recvmmsg: {
      SyscallEffect e = effect(Kind::released, "recvmmsg");
      for (std::uint64_t i = 0; i < std::min<std::uint64_t>(a[2], kMaxVectors); ++i) {
        out(e, a[1] + kMmsghdr * i + kMsghdr, 4);  // msg_len
        msghdr_outputs(e, read, a[1] + kMmsghdr * i);
      }
      return e;
    }
    case SYS_msgrcv: return released("msgrcv", {{a[1], 8 + a[2]}});
    case SYS_fstat: return released("fstat", {{a[1], kStat}});
    case SYS_stat: return released("stat", {{a[1], kStat}});
    case SYS_lstat: return released("lstat", {{a[1], kStat}});
    case SYS_newfstatat: return released("newfstatat", {{a[2], kStat}});
    case SYS_statx: return released("statx", {{a[4], kStatx}});
    case SYS_statfs: return released("statfs", {{a[1], kStatfs}});
    case SYS_fstatfs: return released("fstatfs", {{a[1], kStatfs}});
    case SYS_pipe: return released("pipe", {{a[0], 8}});
    case SYS_pipe2: return released("pipe2", {{a[0], 8}});
    case SYS_socketpair: return released("socketpair", {{a[3], 8}});
    case SYS_wait4: return released("wait4", {{a[1], 4}, {a[3], kRusage}});
    case SYS_waitid: return released("waitid", {{a[2], kSiginfo}, {a[4], kRusage}});
    case SYS_getsockopt: return released("getsockopt", {{a[3], u32_at(read, a[4])}, {a[4], 4}});
    case SYS_getsockname: return released("getsockname", {{a[1], u32_at(read, a[2])}, {a[2], 4}});
    case SYS_getpeername: return released("getpeername", {{a[1], u32_at(read, a[2])}, {a[2], 4}});
    case SYS_accept: return released("accept", {{a[1], u32_at(read, a[2])}, {a[2], 4}});
    case SYS_accept4: return released("accept4", {{a[1], u32_at(read, a[2])}, {a[2], 4}});
    case SYS_epoll_wait: return released("epoll_wait", {{a[1], kEpollEvent * a[2]}});
    case SYS_epoll_pwait: return released("epoll_pwait", {{a[1], kEpollEvent * a[2]}});
    case SYS_epoll_pwait2: return released("epoll_pwait2", {{a[1], kEpollEvent * a[2]}});
    case SYS_poll: return released("poll", {{a[0], kPollfd * a[1]}});
    case SYS_ppoll: return released("ppoll", {{a[0], kPollfd * a[1]}, {a[2], kTimespec}});
    case SYS_select:
    case SYS_pselect6: {
      const std::uint64_t set = (std::min<std::uint64_t>(a[0], 1u << 20) + 63) / 64 * 8;
      return released(
          nr == SYS_select ? "select" : "pselect6",
          {{a[1], set}, {a[2], set}, {a[3], set}, {a[4], nr == SYS_select ? kTimeval : kTimespec}});
    }
    case SYS_nanosleep: return released("nanosleep", {{a[1], kTimespec}});
    case SYS_clock_nanosleep: return released("clock_nanosleep", {{a[3], kTimespec}});
    case SYS_clock_gettime: return released("clock_gettime", {{a[1], kTimespec}});
    case SYS_clock_getres: return released("clock_getres", {{a[1], kTimespec}});
    case SYS_gettimeofday: return released("gettimeofday", {{a[0], kTimeval}, {a[1], 8}});
    case SYS_time: return released("time", {{a[0], 8}});
    case SYS_getrlimit: return released("getrlimit", {{a[1], 16}});
    case SYS_prlimit64: return released("prlimit64", {{a[3], 16}});
    case SYS_getrusage: return released("getrusage", {{a[1], kRusage}});
    case SYS_sysinfo: return released("sysinfo", {{a[0], 112}});
    case SYS_times: return released("times", {{a[0], 32}});
    case SYS_uname: return released("uname", {{a[0], 390}});
    case SYS_sched_getaffinity: return released("sched_getaffinity", {{a[2], a[1]}});
    case SYS_sched_getparam: return released("sched_getparam", {{a[1], 4}});
    case SYS_sched_getattr: return released("sched_getattr", {{a[1], a[2]}});
    case SYS_rt_sigaction: return released("rt_sigaction", {{a[2], 32}});
    case SYS_rt_sigprocmask: return released("rt_sigprocmask", {{a[2], a[3]}});
    case SYS_rt_sigpending: return released("rt_sigpending", {{a[0], a[1]}});
    case SYS_rt_sigtimedwait: return released("rt_sigtimedwait", {{a[1], kSiginfo}});
    case SYS_sigaltstack: return released("sigaltstack", {{a[1], 24}});
    case SYS_getitimer: return released("getitimer", {{a[1], 32}});
    case SYS_setitimer: return released("setitimer", {{a[2], 32}});
    case SYS_timer_gettime: return released("timer_gettime", {{a[1], kItimerspec}});
    case SYS_timer_settime: return released("timer_settime", {{a[3], kItimerspec}});
    case SYS_timerfd_gettime: return released("timerfd_gettime", {{a[1], kItimerspec}});
    case SYS_timerfd_settime: return released("timerfd_settime", {{a[3], kItimerspec}});
    case SYS_getresuid: return released("getresuid", {{a[0], 4}, {a[1], 4}, {a[2], 4}});
    case SYS_getresgid: return released("getresgid", {{a[0], 4}, {a[1], 4}, {a[2], 4}});
    case SYS_getgroups: return released("getgroups", {{a[1], 4 * std::min<std::uint64_t>(a[0], 65536)}});
    case SYS_capget: return released("capget", {{a[0], 8}, {a[1], 24}});
    case SYS_ioctl: return ioctl_effect(a);
    case SYS_prctl: return released("prctl", {{a[0] == 16 ? a[1] : 0, 16}});  // PR_GET_NAME
    case SYS_arch_prctl:
      return released("arch_prctl", {{a[0] == 0x1003 || a[0] == 0x1004 ? a[1] : 0, 8}});  // GET_FS/GS
    case SYS_futex: return futex_effect(a);
    case SYS_get_robust_list: return released("get_robust_list", {{a[1], 8}, {a[2], 8}});
    case SYS_io_setup: return released("io_setup", {{a[1], 8}});
    case SYS_io_getevents:
      return released("io_getevents", {{a[3], kIoEvent * std::min<std::uint64_t>(a[2], 65536)}});
    case SYS_getcpu: return released("getcpu", {{a[0], 4}, {a[1], 4}});
    case SYS_splice: return released("splice", {{a[1], 8}, {a[3], 8}});
    case SYS_copy_file_range: return released("copy_file_range", {{a[1], 8}, {a[3], 8}});
    case SYS_sendfile: return released("sendfile", {{a[2], 8}});
    case SYS_getxattr: return released("getxattr", {{a[2], a[3]}});
    case SYS_lgetxattr: return released("lgetxattr", {{a[2], a[3]}});
    case SYS_fgetxattr: return released("fgetxattr", {{a[2], a[3]}});
    case SYS_listxattr: return released("listxattr", {{a[1], a[2]}});
    case SYS_llistxattr: return released("llistxattr", {{a[1], a[2]}});
    case SYS_flistxattr: return released("flistxattr", {{a[1], a[2]}});
    case SYS_mincore: return released("mincore", {{a[2], (a[1] + 4095) / 4096}});
    case SYS_adjtimex: return released("adjtimex", {{a[0], kTimex}});
    case SYS_clock_adjtime: return released("clock_adjtime", {{a[1], kTimex}});
    case SYS_bpf: return released("bpf", {{a[1], a[2]}});
    case SYS_clone:
      // x86-64 argument order: flags, stack, parent_tid, child_tid, tls.
      return released("clone", {{(a[0] & (kCloneParentSettid | kClonePidfd)) ? a[2] : 0, 4}});
    case SYS_clone3: {
      std::uint64_t ca[4] = {};  // struct clone_args: flags, pidfd, child_tid, parent_tid
      if (!a[0] || !read(a[0], ca, sizeof ca)) return effect(Kind::none, "clone3");
      return released(
          "clone3", {{(ca[0] & kClonePidfd) ? ca[1] : 0, 4}, {(ca[0] & kCloneParentSettid) ? ca[3] : 0, 4}});
    }
    // ---- memory management -----------------------------------------------------------------
    case SYS_munmap: {
      SyscallEffect e = effect(Kind::unmap, "munmap");
      e.arg = 0;
      e.len_arg = 1;
      return e;
    }
    case SYS_mmap: {
      if (!(a[3] & kMapFixed) || (a[3] & kMapFixedNoreplace)) return effect(Kind::none, "mmap");
      SyscallEffect e = effect(Kind::unmap, "mmap(MAP_FIXED)");
      e.arg = 0;
      e.len_arg = 1;
      return e;
    }
    case SYS_mremap: return effect(Kind::remap, "mremap");
    case SYS_mprotect: return effect(Kind::protect, "mprotect");
    case SYS_pkey_mprotect: return effect(Kind::protect, "pkey_mprotect");
    case SYS_madvise:
      if (a[2] == kMadvDontneed || a[2] == kMadvFree || a[2] == kMadvRemove || a[2] == kMadvDontneedLocked)
        return effect(Kind::discard, "madvise");
      return effect(Kind::none, "madvise");
    case SYS_brk: return effect(Kind::check_mapped, "brk");
    case SYS_shmdt: return effect(Kind::check_mapped, "shmdt");
    case SYS_shmat: return effect(Kind::check_mapped, "shmat");
    case SYS_remap_file_pages: return effect(Kind::check_mapped, "remap_file_pages");
    case SYS_rseq: {
      if (a[2] != 0) return effect(Kind::none, "rseq");  // only registration (flags 0)
      SyscallEffect e = effect(Kind::kernel_area, "rseq");
      e.area_len = a[1];
      return e;
    }
    case SYS_set_robust_list: {
      SyscallEffect e = effect(Kind::kernel_area, "set_robust_list");
      e.area_len = a[1];
      return e;
    }
    case SYS_set_tid_address: {
      SyscallEffect e = effect(Kind::kernel_area, "set_tid_address");
      e.area_len = 4;
      return e;
    }
    default: return effect(Kind::none, "");  // syscall_name() names it
  }
}

const char* syscall_name(long nr) {
  SyscallEffect e = syscall_effect(nr, Args{}, [](std::uint64_t, void*, std::size_t) { return false; });
  if (e.name && *e.name) return e.name;
  switch (nr) {
    case SYS_write: return "write";
    case SYS_execve: return "execve";
    case SYS_exit: return "exit";
    case SYS_exit_group: return "exit_group";
  }
  thread_local char buf[32];
  std::snprintf(buf, sizeof buf, "syscall %ld", nr);
  return buf;
}

}  // namespace hwbp::ptrace
