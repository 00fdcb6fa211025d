#include "page/syscall_dispatch.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include <linux/sched.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "page/engine_internal.hpp"
#include "page/raw_syscall.hpp"
#include "page/self_memory.hpp"
#include "page/signals.hpp"
#include "perf/threads.hpp"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_OFF 0
#define PR_SYS_DISPATCH_ON 1
#endif
#ifndef SYS_USER_DISPATCH
#define SYS_USER_DISPATCH 2
#endif

// Shared with the clone stub below (C linkage for the asm). Hidden: the stub addresses them
// rip-relative, which a shared libhwbp can only do for symbols that cannot be preempted.
#pragma GCC visibility push(hidden)
extern "C" {
// The selector every thread's dispatch points at: always BLOCK (1). A thread has dispatch on only
// while page watches are armed (turned on and off in the thread itself, by a signal): a thread
// with dispatch on and the selector at ALLOW would run its sigprocmask natively, could block
// SIGSYS, and would be killed by its next system call once the selector went back to BLOCK
// (kernel/signal.c, force_sig_info_to_task: a blocked forced signal gets its default action).
// That killed programs whose threads were in pthread_create (which blocks every signal) while a
// watch was being armed.
volatile char hwbp_page_selector = 1;
std::uint64_t hwbp_page_allowed_begin = 0, hwbp_page_allowed_len = 0;
// One clone in flight: where both sides resume, how many sides still have to read it, and
// whether the child must turn dispatch on (a CLONE_VM thread).
std::uint64_t hwbp_page_clone_return = 0;
volatile char hwbp_page_clone_readers = 0;
volatile char hwbp_page_clone_busy = 0;
char hwbp_page_clone_child_dispatch = 0;
}
#pragma GCC visibility pop

// The clone stub, entered by the SIGSYS handler's sigreturn with the program's registers
// exactly as at its syscall (rax = the call number): the kernel returns into the stub in both
// parent and child. rcx and r11 are clobbered by syscall anyway; the child saves what prctl
// clobbers on its new stack (memory below its stack pointer is unused).
asm(R"(
    .pushsection hwbp_page_text, "ax", @progbits
    .globl hwbp_page_clone_stub
    .type hwbp_page_clone_stub, @function
hwbp_page_clone_stub:
    syscall
    test %rax, %rax
    jz 2f
    js 3f
    # parent, success
1:  mov hwbp_page_clone_return(%rip), %r11
    lock decb hwbp_page_clone_readers(%rip)
    jnz 4f
    movb $0, hwbp_page_clone_busy(%rip)
4:  jmp *%r11
    # parent, failure: no child will read
3:  mov hwbp_page_clone_return(%rip), %r11
    movb $0, hwbp_page_clone_busy(%rip)
    jmp *%r11
    # child
2:  cmpb $0, hwbp_page_clone_child_dispatch(%rip)
    je 1b
    push %rdi
    push %rsi
    push %rdx
    push %r10
    push %r8
    push %r9
    mov $157, %eax
    mov $59, %edi
    mov $1, %esi
    mov hwbp_page_allowed_begin(%rip), %rdx
    mov hwbp_page_allowed_len(%rip), %r10
    lea hwbp_page_selector(%rip), %r8
    syscall
    pop %r9
    pop %r8
    pop %r10
    pop %rdx
    pop %rsi
    pop %rdi
    xor %eax, %eax
    jmp 1b
    .size hwbp_page_clone_stub, .-hwbp_page_clone_stub
    .popsection
)");

namespace hwbp::page {
namespace detail {
namespace {

// The value of the SIGSYS that asks a thread to turn its dispatch on or off, as g_wanted says.
const void* const kSyncMagic = reinterpret_cast<const void*>(0x4857504147455344ull);  // "HWPAGESD"

std::atomic<bool> g_prepared{false};
std::atomic<bool> g_wanted{false};  // dispatch on in every thread (page watches armed)
const char* g_unavailable = nullptr;
std::atomic<unsigned> g_acks{0};
std::mutex g_intercept_mutex;
bool g_intercepting = false;

long enable_dispatch_here() noexcept {
  return raw_syscall(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
                     static_cast<long>(hwbp_page_allowed_begin), static_cast<long>(hwbp_page_allowed_len),
                     reinterpret_cast<long>(&hwbp_page_selector));
}

long disable_dispatch_here() noexcept {
  return raw_syscall(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0);
}

// Called in the thread itself (prctl acts on the calling thread only).
void sync_dispatch_here() noexcept {
  if (g_wanted.load()) enable_dispatch_here();
  else disable_dispatch_here();
}

pid_t self_tid() noexcept { return perf::current_tid(); }

long arg(const ucontext_t* uc, int i) noexcept {
  static constexpr int kRegs[6] = {REG_RDI, REG_RSI, REG_RDX, REG_R10, REG_R8, REG_R9};
  return static_cast<long>(uc->uc_mcontext.gregs[kRegs[i]]);
}

long run(long nr, const ucontext_t* uc) noexcept {
  return raw_syscall(nr, arg(uc, 0), arg(uc, 1), arg(uc, 2), arg(uc, 3), arg(uc, 4), arg(uc, 5));
}

bool overlaps(std::uint64_t addr, std::uint64_t len) noexcept {
  lock(self_tid());
  bool r = state().set.overlaps_protected(addr, len);
  unlock();
  return r;
}

void* scratch_map(std::size_t len) noexcept {
  long p = raw_syscall(SYS_mmap, 0, static_cast<long>(len ? len : 1), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p < 0 && p > -4096 ? nullptr : reinterpret_cast<void*>(p);
}
void scratch_unmap(void* p, std::size_t len) noexcept { raw_syscall(SYS_munmap, reinterpret_cast<long>(p), static_cast<long>(len ? len : 1)); }

// Lands `len` bytes the kernel produced for the program at addr, as one exact store.
void copy_in(std::uint64_t addr, const std::uint8_t* data, std::size_t len, const char* name, std::uint64_t pc,
             void* uc) noexcept {
  lock(self_tid());
  State& s = state();
  Buffers& buf = s.buffers[g_depth - 1 < kMaxDepth ? g_depth - 1 : kMaxDepth - 1];
  for (std::size_t done = 0; done < len;) {
    std::size_t n = len - done < kBufferBytes ? len - done : kBufferBytes;
    read_self(addr + done, buf.old_bytes, n);
    write_self(addr + done, data + done, n);
    s.stats.kernel_writes.fetch_add(1, std::memory_order_relaxed);
    report(addr + done, n, buf.old_bytes, data + done, pc, pc, name, uc, true);
    done += n;
  }
  unlock();
}

const char* read_name(long nr) noexcept {
  switch (nr) {
    case SYS_read: return "read";
    case SYS_pread64: return "pread64";
    case SYS_recvfrom: return "recvfrom";
    case SYS_getrandom: return "getrandom";
    case SYS_readv: return "readv";
    case SYS_preadv: return "preadv";
    case SYS_preadv2: return "preadv2";
    case SYS_recvmsg: return "recvmsg";
    default: return nullptr;
  }
}

// read/pread64/recvfrom/getrandom: the buffer argument and its length.
long redirect_flat(long nr, ucontext_t* uc, int buf_arg, int len_arg, std::uint64_t pc) noexcept {
  const std::uint64_t buf = static_cast<std::uint64_t>(arg(uc, buf_arg));
  const std::size_t len = static_cast<std::size_t>(arg(uc, len_arg));
  if (!overlaps(buf, len)) return run(nr, uc);
  void* scratch = scratch_map(len);
  if (scratch == nullptr) return -ENOMEM;
  long a[6];
  for (int i = 0; i < 6; ++i) a[i] = arg(uc, i);
  a[buf_arg] = reinterpret_cast<long>(scratch);
  long r = raw_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  if (r > 0) copy_in(buf, static_cast<const std::uint8_t*>(scratch), static_cast<std::size_t>(r), read_name(nr), pc, uc);
  scratch_unmap(scratch, len);
  return r;
}

// readv/preadv/preadv2/recvmsg: each iovec on a protected page reads into scratch; the result
// is spread over the iovecs in order (readv(2)).
long redirect_iov(long nr, ucontext_t* uc, std::uint64_t pc) noexcept {
  const bool msg = nr == SYS_recvmsg;
  msghdr* hdr = msg ? reinterpret_cast<msghdr*>(arg(uc, 1)) : nullptr;
  const iovec* iov = msg ? hdr->msg_iov : reinterpret_cast<const iovec*>(arg(uc, 1));
  const std::size_t count = msg ? hdr->msg_iovlen : static_cast<std::size_t>(arg(uc, 2));
  if (count == 0 || count > 1024) return run(nr, uc);
  std::size_t total = 0;
  bool any = false;
  for (std::size_t i = 0; i < count; ++i) {
    total += iov[i].iov_len;
    any = any || overlaps(reinterpret_cast<std::uint64_t>(iov[i].iov_base), iov[i].iov_len);
  }
  if (!any) return run(nr, uc);
  const std::size_t table = count * sizeof(iovec);
  auto* mem = static_cast<std::uint8_t*>(scratch_map(table + total));
  if (mem == nullptr) return -ENOMEM;
  auto* copy = reinterpret_cast<iovec*>(mem);
  std::uint8_t* data = mem + table;
  for (std::size_t i = 0, off = 0; i < count; off += iov[i].iov_len, ++i)
    copy[i] = {data + off, iov[i].iov_len};
  long r;
  if (msg) {
    msghdr m = *hdr;
    m.msg_iov = copy;
    r = raw_syscall(nr, arg(uc, 0), reinterpret_cast<long>(&m), arg(uc, 2));
    if (r >= 0) {  // the kernel's outputs in the header itself
      hdr->msg_namelen = m.msg_namelen;
      hdr->msg_controllen = m.msg_controllen;
      hdr->msg_flags = m.msg_flags;
    }
  } else {
    r = raw_syscall(nr, arg(uc, 0), reinterpret_cast<long>(copy), arg(uc, 2), arg(uc, 3), arg(uc, 4), arg(uc, 5));
  }
  const char* name = read_name(nr);
  for (std::size_t i = 0, left = r > 0 ? static_cast<std::size_t>(r) : 0; i < count && left > 0; ++i) {
    std::size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
    copy_in(reinterpret_cast<std::uint64_t>(iov[i].iov_base), static_cast<const std::uint8_t*>(copy[i].iov_base), n,
            name, pc, uc);
    left -= n;
  }
  scratch_unmap(mem, table + total);
  return r;
}

// Memory going away under watches: end them first (the pages are forgotten), then run.
long memory_goes(long nr, ucontext_t* uc, std::uint64_t addr, std::uint64_t len, const char* name,
                 std::uint64_t pc) noexcept {
  lock(self_tid());
  if (state().set.overlaps_protected(addr, len)) end_watches(addr, len, name, pc);
  unlock();
  return run(nr, uc);
}

// The program's own mprotect over our pages: record its protection, keep ours (no write).
long program_mprotect(long nr, ucontext_t* uc) noexcept {
  const auto addr = static_cast<std::uint64_t>(arg(uc, 0));
  const auto len = static_cast<std::uint64_t>(arg(uc, 1));
  const int prot = static_cast<int>(arg(uc, 2));
  lock(self_tid());
  State& s = state();
  long r = run(nr, uc);
  if (r == 0 && s.set.overlaps_protected(addr, len)) {
    const std::uint64_t ps = s.set.page_size();
    for (std::uint64_t p = s.set.page_of(addr); p < addr + len; p += ps) {
      if (!s.set.protects(p)) continue;
      s.set.set_program_protection({p, ps}, prot);
      raw_syscall(SYS_mprotect, static_cast<long>(p), static_cast<long>(ps), prot & ~PROT_WRITE);
    }
  }
  unlock();
  return r;
}

// Calls that only read through their pointers (or write nowhere): never diverted.
bool reads_only(long nr) noexcept {
  switch (nr) {
    case SYS_write: case SYS_pwrite64: case SYS_writev: case SYS_pwritev: case SYS_pwritev2:
    case SYS_sendto: case SYS_sendmsg: case SYS_futex: case SYS_open: case SYS_openat:
    case SYS_close: case SYS_exit: case SYS_exit_group: case SYS_execve: case SYS_execveat:
    case SYS_mmap: case SYS_munmap: case SYS_mremap: case SYS_madvise: case SYS_mprotect:
    case SYS_pkey_mprotect: case SYS_brk: case SYS_shmdt: case SYS_rt_sigreturn: case SYS_clone:
    case SYS_clone3: case SYS_fork: case SYS_vfork: case SYS_sched_yield: case SYS_gettid:
    case SYS_getpid: case SYS_tgkill: case SYS_kill: case SYS_set_robust_list: case SYS_rseq:
    case SYS_access: case SYS_faccessat: case SYS_unlink: case SYS_unlinkat: case SYS_mkdir:
    case SYS_mkdirat: case SYS_rename: case SYS_renameat: case SYS_renameat2: case SYS_chdir:
    case SYS_fsync: case SYS_fdatasync: case SYS_lseek: case SYS_dup: case SYS_dup2: case SYS_dup3:
      return true;
    default:
      return false;
  }
}

// Any other call with a pointer argument into a protected page: make those pages (and the
// next, for a structure crossing) writable for the call under the lock, diff, re-protect.
long generic(long nr, ucontext_t* uc, std::uint64_t pc, bool& handled) noexcept {
  handled = false;
  State& s = state();
  std::uint64_t pages[6];
  int n = 0;
  lock(self_tid());
  for (int i = 0; i < 6; ++i) {
    auto v = static_cast<std::uint64_t>(arg(uc, i));
    if (v >= 4096 && s.set.protects(v)) pages[n++] = s.set.page_of(v);
  }
  if (n == 0) {
    unlock();
    return 0;
  }
  handled = true;
  const std::uint64_t ps = s.set.page_size();
  Buffers& buf = s.buffers[g_depth - 1 < kMaxDepth ? g_depth - 1 : kMaxDepth - 1];
  // Snapshot, open, run, diff, close — one or two pages per argument.
  std::uint64_t span[6][2];
  int m = 0;
  for (int i = 0; i < n && m < 6; ++i) {
    std::uint64_t len = s.set.protects(pages[i] + ps) ? 2 * ps : ps;
    if (m * 2 * ps + len > kBufferBytes) break;
    span[m][0] = pages[i];
    span[m][1] = len;
    std::memcpy(buf.old_bytes + m * 2 * ps, reinterpret_cast<const void*>(pages[i]), len);
    for (std::uint64_t p = pages[i]; p < pages[i] + len; p += ps) {
      auto prot = s.set.program_protection(p);
      raw_syscall(SYS_mprotect, static_cast<long>(p), static_cast<long>(ps), prot ? *prot : PROT_READ | PROT_WRITE);
    }
    ++m;
  }
  long r = run(nr, uc);
  for (int i = 0; i < m; ++i) {
    for (std::uint64_t p = span[i][0]; p < span[i][0] + span[i][1]; p += ps) {
      auto prot = s.set.program_protection(p);
      raw_syscall(SYS_mprotect, static_cast<long>(p), static_cast<long>(ps), (prot ? *prot : PROT_READ) & ~PROT_WRITE);
    }
    const std::uint8_t* before = buf.old_bytes + i * 2 * ps;
    const auto* after = reinterpret_cast<const std::uint8_t*>(span[i][0]);
    for (std::uint64_t j = 0; j < span[i][1];) {
      if (before[j] == after[j]) { ++j; continue; }
      std::uint64_t k = j;
      while (k < span[i][1] && before[k] != after[k]) ++k;
      std::memcpy(buf.new_bytes, after + j, k - j);
      s.stats.kernel_writes.fetch_add(1, std::memory_order_relaxed);
      report(span[i][0] + j, k - j, before + j, buf.new_bytes, pc, pc, "syscall", uc, false);
      j = k;
    }
  }
  s.stats.unprotected_syscalls.fetch_add(1, std::memory_order_relaxed);
  unlock();
  return r;
}

// ---- SIGSYS must never be blocked while dispatch is on: a dispatched call with SIGSYS blocked
// kills the thread (kernel/signal.c, force_sig_info_to_task: a blocked forced signal gets its
// default action). Masks the program sets are given to the kernel without SIGSYS.
constexpr unsigned long kSigsysBit = 1ul << (SIGSYS - 1);

struct KernelSigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  unsigned long mask;
};

long without_sigsys_mask(long nr, ucontext_t* uc, int mask_arg) noexcept {
  long a[6];
  for (int i = 0; i < 6; ++i) a[i] = arg(uc, i);
  unsigned long copy = 0;
  if (a[mask_arg] != 0) {
    copy = *reinterpret_cast<const unsigned long*>(a[mask_arg]) & ~kSigsysBit;
    a[mask_arg] = reinterpret_cast<long>(&copy);
  }
  return raw_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

long sigprocmask_call(ucontext_t* uc) noexcept {
  if (arg(uc, 0) == SIG_UNBLOCK) return run(SYS_rt_sigprocmask, uc);
  return without_sigsys_mask(SYS_rt_sigprocmask, uc, 1);
}

// rt_sigaction: handler masks lose SIGSYS; SIGSEGV and SIGSYS stay the engine's (the program's
// action is kept as the chained one, as the library's sigaction() does).
long sigaction_call(ucontext_t* uc) noexcept {
  const int sig = static_cast<int>(arg(uc, 0));
  auto* act = reinterpret_cast<const KernelSigaction*>(arg(uc, 1));
  auto* old = reinterpret_cast<KernelSigaction*>(arg(uc, 2));
  if ((sig == SIGSEGV || sig == SIGSYS) && handler_installed(sig)) {
    struct sigaction in {}, out {};
    if (act != nullptr) {
      in.sa_handler = reinterpret_cast<sighandler_t>(act->handler);
      in.sa_flags = static_cast<int>(act->flags);
      std::memcpy(&in.sa_mask, &act->mask, sizeof act->mask);
    }
    int result = 0;
    hwbp_page_virtual_sigaction(sig, act ? &in : nullptr, &out, &result);
    if (old != nullptr) {
      old->handler = reinterpret_cast<void*>(out.sa_handler);
      old->flags = static_cast<unsigned long>(out.sa_flags);
      old->restorer = nullptr;
      std::memcpy(&old->mask, &out.sa_mask, sizeof old->mask);
    }
    return 0;
  }
  if (act == nullptr) return run(SYS_rt_sigaction, uc);
  KernelSigaction copy = *act;
  copy.mask &= ~kSigsysBit;
  return raw_syscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(&copy), arg(uc, 2), arg(uc, 3));
}

// Handlers installed before dispatch was turned on lose SIGSYS from their masks too.
void strip_sigsys_from_handlers() noexcept {
  for (int sig = 1; sig < 65; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    KernelSigaction k{};
    if (raw_syscall(SYS_rt_sigaction, sig, 0, reinterpret_cast<long>(&k), 8) != 0) continue;
    if ((k.mask & kSigsysBit) == 0) continue;
    k.mask &= ~kSigsysBit;
    raw_syscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(&k), 0, 8);
  }
}

// clone family: re-run natively from the stub with the program's registers.
void clone_natively(long nr, ucontext_t* uc) noexcept {
  std::uint64_t flags = 0;
  if (nr == SYS_clone) flags = static_cast<std::uint64_t>(arg(uc, 0));
  else if (nr == SYS_clone3) flags = *reinterpret_cast<const std::uint64_t*>(arg(uc, 0));
  else if (nr == SYS_vfork) flags = CLONE_VM | CLONE_VFORK;
  while (__atomic_exchange_n(&hwbp_page_clone_busy, 1, __ATOMIC_ACQUIRE) != 0) raw_syscall(SYS_sched_yield);
  hwbp_page_clone_return = static_cast<std::uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  hwbp_page_clone_readers = (flags & CLONE_VM) ? 2 : 1;
  hwbp_page_clone_child_dispatch = (flags & CLONE_VM) && !(flags & CLONE_VFORK) && g_wanted.load() ? 1 : 0;
  uc->uc_mcontext.gregs[REG_RAX] = nr;
  uc->uc_mcontext.gregs[REG_RIP] = reinterpret_cast<greg_t>(&hwbp_page_clone_stub);
}

extern "C" void hwbp_page_sigsys(int sig, siginfo_t* si, void* context) {
  const int saved_errno = errno;
  auto* uc = static_cast<ucontext_t*>(context);
  if (si->si_code == SI_QUEUE && si->si_value.sival_ptr == kSyncMagic &&
      si->si_pid == static_cast<pid_t>(raw_syscall(SYS_getpid))) {
    sync_dispatch_here();
    sigdelset(&uc->uc_sigmask, SIGSYS);
    g_acks.fetch_add(1);
    errno = saved_errno;
    return;
  }
  if (si->si_code != SYS_USER_DISPATCH) {
    chain(sig, si, context);
    errno = saved_errno;
    return;
  }
  const long nr = si->si_syscall;
  const auto pc = static_cast<std::uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  long r = 0;
  switch (nr) {
    case SYS_rt_sigreturn:
      uc->uc_mcontext.gregs[REG_RIP] = reinterpret_cast<greg_t>(&hwbp_page_sigreturn_stub);
      errno = saved_errno;
      return;
    case SYS_clone: case SYS_clone3: case SYS_fork: case SYS_vfork:
      clone_natively(nr, uc);
      errno = saved_errno;
      return;
    case SYS_read: case SYS_pread64: r = redirect_flat(nr, uc, 1, 2, pc); break;
    case SYS_recvfrom: r = redirect_flat(nr, uc, 1, 2, pc); break;
    case SYS_getrandom: r = redirect_flat(nr, uc, 0, 1, pc); break;
    case SYS_readv: case SYS_preadv: case SYS_preadv2: case SYS_recvmsg: r = redirect_iov(nr, uc, pc); break;
    case SYS_munmap: r = memory_goes(nr, uc, std::uint64_t(arg(uc, 0)), std::uint64_t(arg(uc, 1)), "munmap", pc); break;
    case SYS_mremap: r = memory_goes(nr, uc, std::uint64_t(arg(uc, 0)), std::uint64_t(arg(uc, 1)), "mremap", pc); break;
    case SYS_shmdt: r = memory_goes(nr, uc, std::uint64_t(arg(uc, 0)), 1, "shmdt", pc); break;
    case SYS_madvise: {
      const long advice = arg(uc, 2);
      if (advice == MADV_DONTNEED || advice == MADV_FREE || advice == MADV_REMOVE || advice == 24 /*DONTNEED_LOCKED*/)
        r = memory_goes(nr, uc, std::uint64_t(arg(uc, 0)), std::uint64_t(arg(uc, 1)), "madvise", pc);
      else
        r = run(nr, uc);
      break;
    }
    case SYS_mmap:
      if (arg(uc, 3) & (MAP_FIXED | MAP_FIXED_NOREPLACE))
        r = memory_goes(nr, uc, std::uint64_t(arg(uc, 0)), std::uint64_t(arg(uc, 1)), "mmap", pc);
      else
        r = run(nr, uc);
      break;
    case SYS_brk: {
      const auto cur = static_cast<std::uint64_t>(raw_syscall(SYS_brk, 0));
      const auto want = static_cast<std::uint64_t>(arg(uc, 0));
      r = want != 0 && want < cur ? memory_goes(nr, uc, want, cur - want, "brk", pc) : run(nr, uc);
      break;
    }
    case SYS_mprotect: case SYS_pkey_mprotect: r = program_mprotect(nr, uc); break;
    case SYS_sigaltstack:
      // rt_sigreturn restores the alternate stack saved in the frame (restore_altstack() in
      // kernel/signal.c): a change made inside this handler must go into that frame too.
      r = run(nr, uc);
      if (r == 0) raw_syscall(SYS_sigaltstack, 0, reinterpret_cast<long>(&uc->uc_stack));
      break;
    case SYS_rt_sigprocmask: r = sigprocmask_call(uc); break;
    case SYS_rt_sigaction: r = sigaction_call(uc); break;
    case SYS_rt_sigsuspend: r = without_sigsys_mask(nr, uc, 0); break;
    case SYS_ppoll: r = without_sigsys_mask(nr, uc, 3); break;
    case SYS_epoll_pwait: case SYS_epoll_pwait2: r = without_sigsys_mask(nr, uc, 4); break;
    default: {
      bool handled = false;
      if (!reads_only(nr)) r = generic(nr, uc, pc, handled);
      if (!handled) r = run(nr, uc);
    }
  }
  uc->uc_mcontext.gregs[REG_RAX] = r;
  errno = saved_errno;
}

// Signals every other thread to turn its dispatch on or off (as g_wanted says) and waits for
// each. A thread that blocks SIGSYS does it when it unblocks: until then, with dispatch off, its
// kernel writes into watched pages fail (EFAULT); with it on, it intercepts a while longer.
void sync_everywhere() {
  sync_dispatch_here();
  std::set<pid_t> done{self_tid()};
  const pid_t pid = getpid();
  for (int round = 0; round < 20; ++round) {
    std::vector<pid_t> fresh;
    for (pid_t t : perf::list_threads(0))
      if (done.insert(t).second) fresh.push_back(t);
    if (fresh.empty()) return;
    const unsigned target = g_acks.load() + static_cast<unsigned>(fresh.size());
    for (pid_t t : fresh) {
      siginfo_t info{};
      info.si_signo = SIGSYS;
      info.si_code = SI_QUEUE;
      info.si_pid = pid;
      info.si_uid = getuid();
      info.si_value.sival_ptr = const_cast<void*>(kSyncMagic);
      if (syscall(SYS_rt_tgsigqueueinfo, pid, t, SIGSYS, &info) != 0) {
        done.erase(t);  // gone already
      }
    }
    for (int wait = 0; wait < 500 && g_acks.load() < target; ++wait) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

}  // namespace

void prepare_syscall_dispatch() {
  if (g_prepared.exchange(true)) return;
  hwbp_page_allowed_begin = allowed_code_begin();
  hwbp_page_allowed_len = allowed_code_end() - allowed_code_begin();
  if (const char* off = getenv("HWBP_PAGE_NO_SYSCALL_DISPATCH"); off != nullptr && *off == '1') {
    g_unavailable = "syscall user dispatch turned off (HWBP_PAGE_NO_SYSCALL_DISPATCH=1): system calls writing "
                    "into watched pages fail with EFAULT";
    return;
  }
  if (enable_dispatch_here() != 0) {
    g_unavailable = "syscall user dispatch is not available (Linux 5.11+, CONFIG_GENERIC_ENTRY): system calls "
                    "writing into watched pages fail with EFAULT";
    return;
  }
  disable_dispatch_here();  // it works; it is on only while page watches are armed
  install_handler(SIGSYS, &hwbp_page_sigsys);
}

void intercept_syscalls(bool on) {
  std::lock_guard<std::mutex> guard(g_intercept_mutex);
  if (g_unavailable != nullptr || on == g_intercepting) return;
  // Handlers whose masks block SIGSYS lose it before any thread intercepts, and again once every
  // thread that could did (a sigaction made natively in between; later ones go through the
  // handler, which strips it).
  if (on) strip_sigsys_from_handlers();
  g_wanted = on;
  sync_everywhere();
  if (on) strip_sigsys_from_handlers();
  g_intercepting = on;
}

}  // namespace detail

const char* syscall_dispatch_unavailable() noexcept {
  return detail::g_unavailable != nullptr ? detail::g_unavailable : "";
}

}  // namespace hwbp::page
