#include "inprocess/sigtrap.hpp"

#include <dlfcn.h>
#include <pthread.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <optional>

#include "core/sig_data.hpp"
#include "inprocess/acceptance.hpp"
#include "inprocess/dispatch.hpp"
#include "inprocess/uprobe_watch.hpp"
#include "inprocess/trap_store.hpp"
#include "perf/sigtrap_info.hpp"
#include "perf/threads.hpp"

extern "C" int __sigaction(int, const struct sigaction*, struct sigaction*);

// ---- page engine hooks (src/page/signals.hpp); weak: absent unless the page engine is linked.
// The engine owns SIGSEGV/SIGSYS the way this file owns SIGTRAP, and single-steps with TF.
extern "C" bool hwbp_page_virtual_sigaction(int, const struct sigaction*, struct sigaction*, int*) noexcept
    __attribute__((weak));
extern "C" bool hwbp_page_sigtrap(siginfo_t*, void*) noexcept __attribute__((weak));
extern "C" void hwbp_page_restorer() noexcept __attribute__((weak));

namespace hwbp::inprocess {
namespace {

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);

std::atomic<bool> g_installed{false};
std::mutex g_install_mutex;
// The program's view of SIGTRAP. Written in normal context under g_install_mutex.
struct sigaction g_chained {};

SigactionFn real_sigaction() noexcept {
  // RTLD_NEXT finds the next definition after ours (libc, or a sanitizer interceptor). A static
  // executable has no dynamic loader: fall back to glibc's exported alias.
  static SigactionFn fn = [] {
    auto f = reinterpret_cast<SigactionFn>(dlsym(RTLD_NEXT, "sigaction"));
    return f != nullptr ? f : &__sigaction;
  }();
  return fn;
}

pid_t gettid_raw() noexcept { return static_cast<pid_t>(syscall(SYS_gettid)); }

// gettid costs ~0.4 us in these VMs (8% of a hit): perf::current_tid() caches it per thread in
// initial-exec TLS, which is async-signal-safe (no lazy allocation).
pid_t cached_tid() noexcept { return perf::current_tid(); }

std::uintptr_t trap_ip(void* uc) noexcept {
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(static_cast<ucontext_t*>(uc)->uc_mcontext.pc);
#else
  return 0;
#endif
}

void deliver(SlotDispatch& d, DispatchTable::Slot& slot, const perf::PerfTrap& trap, void* uc) {
  Hit hit;
  hit.tid = cached_tid();
  hit.addr = d.chunk.addr;
  hit.len = d.chunk.len;
  hit.ip = trap_ip(uc);
  hit.async = trap.async();
  hit.context = uc;
  hit.mechanism = Mechanism::debug_registers;
  hit.pc = hit.ip;  // x86 does not say which instruction made a data access (see hwbp.hpp)
  AccessValues values;
  // The chunk's bytes (little-endian, x86-64) for Hit::old_bytes/new_bytes.
  std::uint8_t old_bytes[8], new_bytes[8];
  if (d.needs_values) {
    values.read = true;
    // The bytes now are the latest store's; another CPU may have stored since this one. What
    // the instruction stored, from the registers at the trap, is this store's own value
    // (issue 17). A late (async) signal's registers are not the access's.
    const TrapStore store = trap.async() ? TrapStore{} : trap_store(d.chunk, uc);
    const std::uint64_t seen = load_chunk(d.chunk.addr, d.chunk.len, d.read_via_kernel);
    values.new_value = store.new_known ? store.new_value : seen;
    values.old_value = DispatchTable::swap_shadow(slot, values.new_value, values.old_known);
    values.old_exact = d.one_writer && values.old_known;
    values.new_exact = store.new_known || d.one_writer;
    if (store.old_known) {  // xchg, xadd, cmpxchg: the register holds it
      values.old_value = store.old_value;
      values.old_known = values.old_exact = true;
    }
    if (store.rmw && values.old_exact) {
      values.new_value = store.apply(values.old_value);
      values.new_exact = true;
    }
    std::memcpy(old_bytes, &values.old_value, sizeof old_bytes);
    std::memcpy(new_bytes, &values.new_value, sizeof new_bytes);
    values.old_bytes = old_bytes;
    values.new_bytes = new_bytes;
  }
  deliver_to_subscribers(d.subscribers, hit, values);
}

// Returns false when the trap is not one of ours (another in-process sigtrap user).
bool handle_perf_trap(const perf::PerfTrap& trap, void* uc) {
  const auto tag = core::decode_sig_data(trap.data, core::SigDataOwner::library);
  if (!tag) return false;
  DispatchTable& table = dispatch_table();
  // A uprobe's trap (si_addr 0, si_perf_type the uprobe PMU's dynamic type): uprobe_watch.hpp.
  if (trap.type != PERF_TYPE_BREAKPOINT && (tag->slot & kUprobeSlotBit) != 0) {
    table.enter();
    deliver_uprobe_trap(tag->slot, tag->generation, uc);
    table.leave();
    return true;
  }
  if (trap.type != PERF_TYPE_BREAKPOINT || tag->slot >= DispatchTable::kCapacity) return false;
  table.enter();
  DispatchTable::Slot& slot = table.slot(tag->slot);
  SlotDispatch* d = slot.dispatch.load(std::memory_order_seq_cst);
  // A missing or newer dispatch means the signal outlived its slot: ours, but nothing to report.
  // si_addr is the breakpoint address at trap time while si_perf_data is read when the signal
  // is sent (perf_sigtrap()), so a slot moved in between carries the new tag: the address
  // tells the stale signal apart.
  if (d != nullptr && d->generation == tag->generation && trap.addr == d->chunk.addr)
    deliver(*d, slot, trap, uc);
  table.leave();
  return true;
}

void chain(int sig, siginfo_t* si, void* uc) {
  struct sigaction act = g_chained;
  if ((act.sa_flags & SA_SIGINFO) != 0 && act.sa_sigaction != nullptr) {
    act.sa_sigaction(sig, si, uc);
    return;
  }
  if (act.sa_handler == SIG_IGN) return;
  if (act.sa_handler != SIG_DFL) {
    act.sa_handler(sig);
    return;
  }
  // Never let a perf trap kill the process (a late signal of a closed event, or another
  // library's). Any other SIGTRAP gets the default action the program would have had.
  if (si->si_code == perf::kTrapPerf) return;
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  real_sigaction()(SIGTRAP, &dfl, nullptr);
  syscall(SYS_tgkill, getpid(), gettid_raw(), SIGTRAP);
}

extern "C" void hwbp_sigtrap_handler(int sig, siginfo_t* si, void* uc) {
  int saved_errno = errno;
  const std::optional<perf::PerfTrap> trap = perf::perf_trap(*si);
  // The page engine's single steps (TF) are its own SIGTRAPs, never perf ones.
  if (!trap && hwbp_page_sigtrap != nullptr && hwbp_page_sigtrap(si, uc)) {
    errno = saved_errno;
    return;
  }
  if (!(trap && handle_perf_trap(*trap, uc))) chain(sig, si, uc);
  errno = saved_errno;
}

// Virtualised sigaction for SIGTRAP once our handler is in place.
int sigtrap_sigaction(const struct sigaction* act, struct sigaction* oldact) {
  std::lock_guard<std::mutex> lock(g_install_mutex);
  if (oldact != nullptr) *oldact = g_chained;
  if (act != nullptr) g_chained = *act;
  return 0;
}

// With the page engine linked, the handler returns through the engine's restorer instead of
// glibc's __restore_rt. While page watches are armed every thread runs under syscall user
// dispatch, which lets through only system calls made from the engine's own code section
// (kernel/entry/syscall_user_dispatch.c): glibc's rt_sigreturn would be dispatched as a SIGSYS,
// and every hit (and every displaced step's trap) would pay a second signal delivery and return.
// The restorer is the same two instructions as glibc's, byte for byte, so unwinders still
// recognise the signal frame.
void return_through_page_restorer() noexcept {
  if (hwbp_page_restorer == nullptr) return;
  struct KernelSigaction {  // arch/x86/include/uapi/asm/signal.h
    void* handler;
    unsigned long flags;
    void* restorer;
    unsigned long mask;
  } k{};
  constexpr unsigned long kSaRestorer = 0x04000000;  // SA_RESTORER (not exported by glibc)
  if (syscall(SYS_rt_sigaction, SIGTRAP, nullptr, &k, sizeof k.mask) != 0) return;
  if (k.handler != reinterpret_cast<void*>(&hwbp_sigtrap_handler)) return;  // interposed by a sanitizer
  k.flags |= kSaRestorer;
  k.restorer = reinterpret_cast<void*>(&hwbp_page_restorer);
  syscall(SYS_rt_sigaction, SIGTRAP, &k, nullptr, sizeof k.mask);
}

}  // namespace

void install_sigtrap_handler() {
  if (g_installed.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(g_install_mutex);
  if (g_installed.load(std::memory_order_relaxed)) return;
  struct sigaction ours {};
  ours.sa_sigaction = hwbp_sigtrap_handler;
  // SA_NODEFER: a hit inside a handler (e.g. a callback touching another watched variable) is
  // delivered nested instead of being queued asynchronously with inexact values.
  ours.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
  sigemptyset(&ours.sa_mask);
  struct sigaction previous {};
  if (real_sigaction()(SIGTRAP, &ours, &previous) != 0)
    throw Error(Errc::system, std::string("cannot install the SIGTRAP handler: ") + std::strerror(errno), errno);
  g_chained = previous;
  return_through_page_restorer();
  (void)perf::current_tid();  // registers its fork handler outside signal context
  g_installed.store(true, std::memory_order_release);
}

bool sigtrap_handler_installed() noexcept { return g_installed.load(std::memory_order_acquire); }

}  // namespace hwbp::inprocess

using hwbp::inprocess::real_sigaction;

// Interposed for SIGTRAP only, so the program's own handler is chained rather than replacing
// ours; every other signal goes straight through.
extern "C" int sigaction(int signum, const struct sigaction* act, struct sigaction* oldact) {
  if (signum == SIGTRAP && hwbp::inprocess::sigtrap_handler_installed())
    return hwbp::inprocess::sigtrap_sigaction(act, oldact);
  int page_result = 0;
  if (hwbp_page_virtual_sigaction != nullptr && hwbp_page_virtual_sigaction(signum, act, oldact, &page_result))
    return page_result;
  return real_sigaction()(signum, act, oldact);
}

// glibc's signal() calls its internal __sigaction directly, bypassing the interposed one.
extern "C" sighandler_t signal(int signum, sighandler_t handler) {
  struct sigaction act {};
  struct sigaction old {};
  act.sa_handler = handler;
  act.sa_flags = SA_RESTART;  // BSD semantics, as glibc's signal()
  sigemptyset(&act.sa_mask);
  if (sigaction(signum, &act, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}
