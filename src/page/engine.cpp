#include "page/engine.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include <asm/prctl.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "core/page_set.hpp"
#include "decode/signal_frame.hpp"
#include "decode/store_analysis.hpp"
#include "hwbp/error.hpp"
#include "inprocess/sigtrap.hpp"
#include "page/engine_internal.hpp"
#include "page/raw_syscall.hpp"
#include "page/self_memory.hpp"
#include "page/signals.hpp"
#include "perf/threads.hpp"

// glibc 2.35+: where this thread's struct rseq lies, relative to the thread pointer.
extern "C" const std::ptrdiff_t __rseq_offset __attribute__((weak));
extern "C" const unsigned int __rseq_size __attribute__((weak));

namespace hwbp::page {
namespace detail {

// ---- the lock: recursive per thread, spinning then yielding --------------------------------
std::atomic<pid_t> g_owner{0};
int g_depth = 0;  // touched by the owner only

void lock(pid_t me) noexcept {
  if (g_owner.load(std::memory_order_relaxed) == me) {
    ++g_depth;
    return;
  }
  for (unsigned spins = 0;; ++spins) {
    pid_t expected = 0;
    if (g_owner.compare_exchange_weak(expected, me, std::memory_order_acquire, std::memory_order_relaxed)) break;
    if (spins > 64) raw_syscall(SYS_sched_yield);  // the owner may be preempted (2 CPUs here)
    else __builtin_ia32_pause();
  }
  g_depth = 1;
}

void unlock() noexcept {
  if (--g_depth == 0) g_owner.store(0, std::memory_order_release);
}

State& state() noexcept {
  static State* s = new State();  // never destroyed: handlers may run during exit
  return *s;
}

}  // namespace detail

using namespace detail;

namespace {

std::mutex g_api_mutex;  // arm/disarm among themselves (normal context)
std::uint64_t g_next_id = 1;

pid_t me() noexcept { return perf::current_tid(); }

// The engine's own protection changes bypass syscall dispatch (raw_syscall.hpp): through libc
// they would be taken for the program's own mprotect.
long raw_mprotect(std::uint64_t addr, std::uint64_t len, int prot) noexcept {
  return raw_syscall(SYS_mprotect, static_cast<long>(addr), static_cast<long>(len), prot);
}

// Blocks every signal in this thread for a critical section shared with the handlers — but
// SIGSYS: a system call dispatched while SIGSYS is blocked kills the thread (the kernel resets a
// blocked forced signal to its default action: force_sig_info_to_task() in kernel/signal.c).
struct SignalsBlocked {
  sigset_t old;
  SignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGSYS);
    pthread_sigmask(SIG_SETMASK, &all, &old);
  }
  ~SignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old, nullptr); }
};

struct Locked {
  SignalsBlocked blocked;
  Locked() { lock(me()); }
  ~Locked() { unlock(); }
};

// The program's protection of each page of [addr, addr + len), from /proc/self/maps. Throws
// when a page is not mapped.
std::map<std::uint64_t, int> mapped_protection(std::uint64_t addr, std::uint64_t len, std::uint64_t page) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::map<std::uint64_t, int> out;
  const std::uint64_t first = addr & ~(page - 1), end = addr + len;
  while (std::getline(maps, line)) {
    std::uint64_t lo = 0, hi = 0;
    char perms[5] = {};
    if (std::sscanf(line.c_str(), "%lx-%lx %4s", &lo, &hi, perms) != 3) continue;
    int prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) | (perms[2] == 'x' ? PROT_EXEC : 0);
    for (std::uint64_t p = std::max(lo, first); p < std::min(hi, end); p += page) out[p] = prot;
  }
  for (std::uint64_t p = first; p < end; p += page)
    if (out.find(p) == out.end()) {
      std::ostringstream m;
      m << "cannot watch 0x" << std::hex << addr << "+" << std::dec << len << " with the page engine: page 0x"
        << std::hex << p << " is not mapped";
      throw Error(Errc::invalid_request, m.str());
    }
  return out;
}

// Pages where the kernel itself writes user memory behind the program's back on this thread:
// its stack (signal frames, which cannot be delivered into a read-only page: the thread would
// be killed) and glibc's rseq area (the kernel updates it on preemption; a failed update is a
// SIGSEGV the program cannot handle). Other threads' stacks cannot be checked from here (docs).
void refuse_kernel_owned(std::uint64_t addr, std::uint64_t len) {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* base = nullptr;
    std::size_t size = 0;
    pthread_attr_getstack(&attr, &base, &size);
    pthread_attr_destroy(&attr);
    auto lo = reinterpret_cast<std::uint64_t>(base);
    std::uint64_t page = state().set.page_size();
    core::PageRange r = state().set.pages_for(addr, len);
    if (r.addr < lo + size && lo < r.addr + r.len)
      throw Error(Errc::invalid_request,
                  "cannot watch stack memory with the page engine: the kernel writes signal frames there "
                  "(watch it with a hardware watch, or copy the variable to static or heap memory)");
    (void)page;
  }
  if (&__rseq_size != nullptr && &__rseq_offset != nullptr && __rseq_size != 0) {
    auto rseq = reinterpret_cast<std::uint64_t>(__builtin_thread_pointer()) + static_cast<std::uint64_t>(__rseq_offset);
    core::PageRange r = state().set.pages_for(addr, len);
    if (rseq + 32 > r.addr && rseq < r.addr + r.len)
      throw Error(Errc::invalid_request,
                  "cannot watch this memory with the page engine: its page holds the thread's rseq area, "
                  "which the kernel updates on every preemption (watch it with a hardware watch)");
  }
}

// ucontext <-> decode::Registers: decode/signal_frame.hpp.
using decode::registers_of;
using decode::store_registers;
using decode::vectors_of;

bool uses_segment_prefix(const std::uint8_t* code) noexcept {
  for (int i = 0; i < 4; ++i)
    if (code[i] == 0x64 || code[i] == 0x65) return true;
  return false;
}

bool read_memory(void*, std::uint64_t addr, void* out, std::size_t len) {
  return read_self(addr, out, len);
}

// Up to 15 instruction bytes at rip (fewer at the end of the mapping).
std::size_t fetch_code(std::uint64_t rip, std::uint8_t* out) noexcept {
  std::uint64_t room = 4096 - (rip & 4095);
  if (room >= 15) {
    std::memcpy(out, reinterpret_cast<const void*>(rip), 15);
    return 15;
  }
  std::memcpy(out, reinterpret_cast<const void*>(rip), room);
  return read_self(rip + room, out + room, 15 - room) ? 15 : room;
}

// ---- hits -------------------------------------------------------------------------------------
// Reports [addr, addr + len) going from old to new bytes (parallel buffers) to every watch it
// touches; counts a store that touched none.
}  // namespace

void detail::report(std::uint64_t addr, std::uint64_t len, const std::uint8_t* old_bytes, const std::uint8_t* new_bytes,
            std::uint64_t pc, std::uint64_t next_ip, const char* syscall, void* uc, bool exact) noexcept {
  State& s = state();
  bool any = false;
  s.set.for_each_touched(addr, len, [&](const core::PageWatch& w, std::uint64_t start, std::uint64_t end) {
    any = true;
    auto it = s.watches.find(w.id);
    if (it == s.watches.end() || !it->second->alive.load(std::memory_order_relaxed)) return;
    Watch& watch = *it->second;
    std::size_t off = start - addr, n = end - start;
    if (!core::page_should_report(w.access, {old_bytes + off, n}, {new_bytes + off, n})) return;
    watch.hits.fetch_add(1, std::memory_order_relaxed);
    if (!watch.options.callback) return;
    PageHit h;
    h.watch_id = w.id;
    h.tid = me();
    h.addr = start;
    h.len = n;
    h.pc = pc;
    h.next_ip = next_ip;
    h.access = w.access;
    h.old_bytes = old_bytes + off;
    h.new_bytes = new_bytes + off;
    h.syscall = syscall;
    h.context = uc;
    h.exact = exact;
    watch.options.callback(h);
  });
  if (!any) s.stats.unwatched.fetch_add(1, std::memory_order_relaxed);
}

namespace {

// The bytes a store is about to change. Our pages are readable (PROT_READ at least), so a plain
// copy reads them without a system call; a store crossing into a page of the program's goes
// through the file, which fails cleanly where that page is unmapped.
bool read_store_target(std::uint64_t addr, void* out, std::size_t n) noexcept {
  const State& s = state();
  const bool all_ours = s.set.protects(addr) && s.set.protects(addr + n - 1) && n <= s.set.page_size();
  if (!all_ours) return read_self(addr, out, n);
  std::memcpy(out, reinterpret_cast<const void*>(addr), n);
  return true;
}

// ---- path 1: emulation ------------------------------------------------------------------------
bool emulate(const decode::StoreAnalysis& a, ucontext_t* uc, std::uint64_t pc, Buffers& buf) noexcept {
  const decode::Emulation& e = a.emulation;
  const std::size_t n = a.write.size;
  if (n > kBufferBytes) return false;
  if (n > 0) {
    // Our pages are readable (PROT_READ at least); a store crossing into a page of the program's
    // goes through the file, which fails cleanly where that page is unmapped.
    if (!read_store_target(a.write.addr, buf.old_bytes, n)) return false;
    switch (e.source) {
      case decode::Source::bytes: std::memcpy(buf.new_bytes, e.bytes.data(), n); break;
      case decode::Source::fill: decode::render_fill(e, 0, buf.new_bytes, n); break;
      case decode::Source::copy:
        if (!read_self(e.copy_from, buf.new_bytes, n)) return false;
        break;
    }
    if (!write_self(a.write.addr, buf.new_bytes, n)) return false;
  }
  store_registers(e.after, uc);
  state().stats.emulated.fetch_add(1, std::memory_order_relaxed);
  if (n > 0) report(a.write.addr, n, buf.old_bytes, buf.new_bytes, pc, e.after.rip, nullptr, uc, true);
  return true;
}

// ---- path 2: displaced step -------------------------------------------------------------------
void block_for_step(ucontext_t* uc, Step& step) noexcept {
  std::memcpy(&step.saved_mask, &uc->uc_sigmask, sizeof step.saved_mask);
  sigfillset(&uc->uc_sigmask);
  for (int sig : {SIGTRAP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS}) sigdelset(&uc->uc_sigmask, sig);
}

bool start_displaced(const decode::StoreAnalysis& a, ucontext_t* uc, std::uint64_t pc) noexcept {
  State& s = state();
  const decode::Displacement& d = a.displacement;
  if (!read_store_target(d.operand_addr, reinterpret_cast<void*>(d.data_addr), d.operand_size)) return false;
  // The scratch code page is written through /proc/self/mem (it is never writable); a loop that
  // steps the same instruction again finds its bytes already there. Besides the system call,
  // rewriting code costs every emulator or CPU that caches decoded code (QEMU TCG throws away its
  // translations of the page on each write).
  if (s.scratch_code_length != d.code_length ||
      std::memcmp(s.scratch_code_bytes, d.code.data(), d.code_length) != 0) {
    s.scratch_code_length = 0;
    if (!write_self(s.scratch_code, d.code.data(), d.code_length)) return false;
    std::memcpy(s.scratch_code_bytes, d.code.data(), d.code_length);
    s.scratch_code_length = d.code_length;
  }
  Step& step = s.step;
  step.active = true;
  step.kind = Step::Kind::displaced;
  step.tid = me();
  step.pc = pc;
  step.resume = d.next_rip;
  step.expect_rip = s.scratch_code + d.code_length;
  step.addr = d.operand_addr;
  step.len = d.operand_size;
  step.data = d.data_addr;
  block_for_step(uc, step);
  uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(s.scratch_code);
  uc->uc_mcontext.gregs[REG_EFL] |= static_cast<greg_t>(decode::kFlagTF);
  return true;  // the lock stays held until the trap
}

// ---- path 3: last resort ----------------------------------------------------------------------
bool start_last_resort(std::uint64_t fault_addr, ucontext_t* uc, std::uint64_t pc) noexcept {
  State& s = state();
  const std::uint64_t page = s.set.page_of(fault_addr);
  auto prot = s.set.program_protection(page);
  if (!prot || (*prot & PROT_WRITE) == 0) return false;
  Step& step = s.step;
  step.addr = page;
  step.len = s.set.page_size();
  if (!read_self(page, step.snapshot, step.len)) return false;
  if (raw_syscall(SYS_mprotect, static_cast<long>(page), static_cast<long>(step.len), *prot) != 0) return false;
  step.active = true;
  step.kind = Step::Kind::in_place;
  step.tid = me();
  step.pc = pc;
  step.expect_rip = 0;
  block_for_step(uc, step);
  uc->uc_mcontext.gregs[REG_EFL] |= static_cast<greg_t>(decode::kFlagTF);
  return true;
}

void finish_step(ucontext_t* uc) noexcept {
  State& s = state();
  Step& step = s.step;
  Buffers& buf = s.buffers[g_depth - 1];  // the level that started the step (lock still held)
  const std::uint64_t rip = static_cast<std::uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  if (step.kind == Step::Kind::displaced) {
    read_store_target(step.addr, buf.old_bytes, step.len);
    std::memcpy(buf.new_bytes, reinterpret_cast<const void*>(step.data), step.len);
    write_self(step.addr, buf.new_bytes, step.len);
    uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(step.resume);
    s.stats.displaced.fetch_add(1, std::memory_order_relaxed);
  } else {
    auto prot = s.set.program_protection(step.addr);
    raw_syscall(SYS_mprotect, static_cast<long>(step.addr), static_cast<long>(step.len),
                (prot ? *prot : PROT_READ) & ~PROT_WRITE);
    std::memcpy(buf.old_bytes, step.snapshot, step.len);
    std::memcpy(buf.new_bytes, reinterpret_cast<const void*>(step.addr), step.len);
    s.stats.last_resort.fetch_add(1, std::memory_order_relaxed);
  }
  uc->uc_mcontext.gregs[REG_EFL] &= ~static_cast<greg_t>(decode::kFlagTF);
  std::memcpy(&uc->uc_sigmask, &step.saved_mask, sizeof step.saved_mask);
  step.active = false;
  const std::uint64_t resume = static_cast<std::uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  if (step.kind == Step::Kind::displaced) {
    report(step.addr, step.len, buf.old_bytes, buf.new_bytes, step.pc, resume, nullptr, uc, true);
  } else {
    // Only changed bytes are visible to a diff: report each changed run.
    std::uint64_t i = 0;
    while (i < step.len) {
      if (buf.old_bytes[i] == buf.new_bytes[i]) { ++i; continue; }
      std::uint64_t j = i;
      while (j < step.len && buf.old_bytes[j] != buf.new_bytes[j]) ++j;
      report(step.addr + i, j - i, buf.old_bytes + i, buf.new_bytes + i, step.pc, rip, nullptr, uc, false);
      i = j;
    }
  }
  unlock();
}

void abort_step(ucontext_t* uc) noexcept {
  State& s = state();
  Step& step = s.step;
  if (step.kind == Step::Kind::in_place) {
    auto prot = s.set.program_protection(step.addr);
    raw_syscall(SYS_mprotect, static_cast<long>(step.addr), static_cast<long>(step.len),
                (prot ? *prot : PROT_READ) & ~PROT_WRITE);
  }
  uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(step.pc);
  uc->uc_mcontext.gregs[REG_EFL] &= ~static_cast<greg_t>(decode::kFlagTF);
  std::memcpy(&uc->uc_sigmask, &step.saved_mask, sizeof step.saved_mask);
  step.active = false;
  unlock();
}

// A forked child inherits the read-only pages but not the watches: give them back (the
// pthread_atfork handler does it eagerly; this covers a raw fork syscall).
void release_in_child() noexcept {
  State& s = state();
  for (const core::PageRange& r : s.set.protected_ranges()) {
    auto prot = s.set.program_protection(r.addr);
    raw_syscall(SYS_mprotect, static_cast<long>(r.addr), static_cast<long>(r.len), prot ? *prot : PROT_READ | PROT_WRITE);
  }
  s.forked_child = true;
  s.active.store(false);
}

void after_fork_in_child() {
  g_owner.store(0);
  g_depth = 0;
  State& s = state();
  if (s.active.load()) release_in_child();
}

thread_local struct {
  std::uint64_t addr = 0, rip = 0;
} t_last_retry __attribute__((tls_model("initial-exec")));

// Resolves a store that faulted on a page of ours, the lock held. False: not ours to complete.
bool resolve(std::uint64_t fault_addr, ucontext_t* uc) noexcept {
  State& s = state();
  decode::Registers regs = registers_of(uc);
  std::uint8_t code[15];
  std::size_t code_len = fetch_code(regs.rip, code);
  if (code_len >= 4 && uses_segment_prefix(code)) {
    raw_syscall(SYS_arch_prctl, ARCH_GET_FS, reinterpret_cast<long>(&regs.fs_base));
    raw_syscall(SYS_arch_prctl, ARCH_GET_GS, reinterpret_cast<long>(&regs.gs_base));
  }
  decode::Options opts;
  opts.scratch_code = s.scratch_code;
  opts.scratch_data = s.scratch_data;
  opts.max_string_bytes = kBufferBytes;
  decode::StoreAnalysis a = decode::analyze_store({code, code_len}, regs, vectors_of(uc),
                                                  decode::MemoryReader{&read_memory, nullptr}, opts);
  const int depth = g_depth - 1;
  if (a.resolution == decode::Resolution::emulate && depth < kMaxDepth) {
    if (!s.set.store_is_ours(a.write.addr, a.write.size)) return false;
    return emulate(a, uc, regs.rip, s.buffers[depth]);
  }
  // A displaced step nested in a callback (a hit's callback doing `add [counter], 1` on a
  // protected page) is fine: the one Step is never active while callbacks run (finish_step()
  // clears it before reporting), and each level has its own buffers.
  if (a.resolution == decode::Resolution::displace && depth < kMaxDepth && !s.step.active &&
      a.displacement.code_length != 0) {
    if (!s.set.store_is_ours(a.write.addr, a.write.size)) return false;
    return start_displaced(a, uc, regs.rip);
  }
  if (depth != 0 || !s.set.store_is_ours(fault_addr, 1)) return false;
  return start_last_resort(fault_addr, uc, regs.rip);
}

extern "C" void hwbp_page_sigsegv(int sig, siginfo_t* si, void* context) {
  const int saved_errno = errno;
  auto* uc = static_cast<ucontext_t*>(context);
  State& s = state();
  if (si->si_code != SEGV_ACCERR || !s.active.load(std::memory_order_acquire)) {
    chain(sig, si, context);
    errno = saved_errno;
    return;
  }
  if (!opened_in_this_process()) {
    release_in_child();  // a raw fork: retry the store in the now writable page
    errno = saved_errno;
    return;
  }
  const auto fault_addr = reinterpret_cast<std::uint64_t>(si->si_addr);
  const std::uint64_t rip = static_cast<std::uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  lock(me());
  if (s.step.active && s.step.tid == me()) {
    // The stepped instruction itself faulted: undo the step, the program gets the fault.
    abort_step(uc);
    s.stats.foreign_faults.fetch_add(1, std::memory_order_relaxed);
    chain(sig, si, context);
    errno = saved_errno;
    return;
  }
  bool done = false, ours = s.set.protects(fault_addr);
  if (ours) done = resolve(fault_addr, uc);
  const bool stepping = s.step.active && s.step.tid == me();
  if (!stepping) unlock();
  if (!done) {
    // A page given back since the fault (watch removed) faults no more: retry once. A fault
    // that repeats at the same place is the program's own.
    if (!ours && (t_last_retry.addr != fault_addr || t_last_retry.rip != rip)) {
      t_last_retry.addr = fault_addr;
      t_last_retry.rip = rip;
    } else {
      t_last_retry = {};
      s.stats.foreign_faults.fetch_add(1, std::memory_order_relaxed);
      chain(sig, si, context);
    }
  } else {
    t_last_retry = {};
  }
  errno = saved_errno;
}

// Binds, in normal context, every lazily bound function the fault path calls through a PLT
// (Zydis in libZydis.so; libc's signal-set and clock helpers): with lazy binding the dynamic
// loader writes the GOT on the first call (elf/dl-runtime.c: _dl_fixup), and a program's GOT
// (.got.plt) can share a page with the globals it watches — a first call from inside the handler
// would store into a protected page and fault again before the decoder exists. Decoding a plain
// store, a read-modify-write (re-encoded for the displaced step), a string store and a vector
// store touches every Zydis entry the analysis uses.
void warm_up_fault_path(const State& s) noexcept {
  alignas(64) static std::uint8_t target[64];
  static const std::uint8_t codes[][4] = {
      {0x48, 0x89, 0x10, 0x90},  // mov [rax], rdx
      {0x83, 0x00, 0x01, 0x90},  // add dword [rax], 1
      {0xf3, 0xaa, 0x90, 0x90},  // rep stosb
      {0x0f, 0x11, 0x00, 0x90},  // movups [rax], xmm0
  };
  decode::Registers regs;
  regs.gpr[0] = reinterpret_cast<std::uint64_t>(target);  // rax
  regs.gpr[7] = reinterpret_cast<std::uint64_t>(target);  // rdi
  regs.gpr[1] = 1;                                          // rcx
  decode::Options opts;
  opts.scratch_code = s.scratch_code;
  opts.scratch_data = s.scratch_data;
  opts.max_string_bytes = kBufferBytes;
  for (const auto& code : codes)
    (void)decode::analyze_store({code, sizeof code}, regs, {}, decode::MemoryReader{&read_memory, nullptr}, opts);
  sigset_t set;
  sigfillset(&set);
  sigdelset(&set, SIGTRAP);
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
}

void ensure_ready() {
  State& s = state();
  if (s.scratch_code != 0) return;
  if (!open_self_memory())
    throw Error(Errc::unsupported, std::string("the page engine needs /proc/self/mem: ") + std::strerror(errno), errno);
  // One mapping: a code page (r-x, written through /proc/self/mem) and two data pages, so the
  // re-encoded rip-relative operand is always in reach.
  void* m = mmap(nullptr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw Error(Errc::system, std::string("page engine scratch mapping: ") + std::strerror(errno), errno);
  if (mprotect(m, 4096, PROT_READ | PROT_EXEC) != 0)
    throw Error(Errc::system, std::string("page engine scratch code page: ") + std::strerror(errno), errno);
  s.scratch_code = reinterpret_cast<std::uint64_t>(m);
  s.scratch_data = s.scratch_code + 4096;
  warm_up_fault_path(s);
  inprocess::install_sigtrap_handler();
  install_handler(SIGSEGV, &hwbp_page_sigsegv);
  pthread_atfork(nullptr, nullptr, &after_fork_in_child);
  prepare_syscall_dispatch();
}

void apply_protection(const core::PageRange& r, int prot) {
  long rc = raw_mprotect(r.addr, r.len, prot);
  if (rc != 0)
    throw Error(Errc::system, std::string("mprotect for the page engine: ") + std::strerror(int(-rc)), int(-rc));
}

}  // namespace

bool detail::handle_sigtrap(siginfo_t* si, void* context) noexcept {
  State& s = state();
  auto* uc = static_cast<ucontext_t*>(context);
  if (!s.step.active || g_owner.load(std::memory_order_relaxed) != me() || s.step.tid != me()) return false;
  const std::uint64_t rip = static_cast<std::uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  if (s.step.kind == Step::Kind::displaced && rip != s.step.expect_rip) return false;
  (void)si;
  finish_step(uc);
  return true;
}

std::string unavailable_reason() {
  try {
    ensure_ready();
  } catch (const Error& e) {
    return e.what();
  }
  void* p = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return "cannot map a probe page";
  std::uint64_t v = 0x5a5a;
  bool ok = write_self(reinterpret_cast<std::uintptr_t>(p), &v, sizeof v) &&
            *static_cast<volatile std::uint64_t*>(p) == 0x5a5a;
  munmap(p, 4096);
  return ok ? "" : "writes through /proc/self/mem into a read-only page fail on this kernel";
}

std::uint64_t arm(const PageWatchOptions& options) {
  std::lock_guard<std::mutex> api(g_api_mutex);
  ensure_ready();
  State& s = state();
  if (const char* why = core::page_refusal_reason(options.access))
    throw Error(Errc::invalid_request, std::string("cannot watch with access '") + to_string(options.access) +
                                           "' on the page engine: " + why);
  if (options.len == 0 || options.addr + options.len < options.addr)
    throw Error(Errc::invalid_request, "page watch range is empty or wraps around the address space");
  refuse_kernel_owned(options.addr, options.len);
  auto prot = mapped_protection(options.addr, options.len, s.set.page_size());
  auto watch = std::make_shared<Watch>();
  watch->options = options;
  const std::uint64_t id = g_next_id++;
  // Kernel writes must be intercepted in every thread before any page turns read-only.
  intercept_syscalls(true);
  {
    Locked locked;
    std::vector<core::PageRange> fresh = s.set.add({id, options.addr, options.len, options.access});
    watch->id = id;
    s.watches.emplace(id, std::move(watch));
    std::size_t done = 0;
    try {
      for (; done < fresh.size(); ++done) {
        const core::PageRange& r = fresh[done];
        for (std::uint64_t p = r.addr; p < r.addr + r.len; p += s.set.page_size())
          s.set.set_program_protection({p, s.set.page_size()}, prot.at(p));
        for (std::uint64_t p = r.addr; p < r.addr + r.len; p += s.set.page_size())
          apply_protection({p, s.set.page_size()}, prot.at(p) & ~PROT_WRITE);
      }
    } catch (...) {
      for (const core::PageRange& r : s.set.remove(id))
        for (std::uint64_t p = r.addr; p < r.addr + r.len; p += s.set.page_size())
          raw_mprotect(p, s.set.page_size(), prot.count(p) ? prot.at(p) : PROT_READ | PROT_WRITE);
      s.watches.erase(id);
      throw;
    }
    s.active.store(true, std::memory_order_release);
  }
  return id;
}

std::size_t armed_count_locked() noexcept;

void disarm(std::uint64_t id) noexcept {
  std::lock_guard<std::mutex> api(g_api_mutex);
  State& s = state();
  {
    Locked locked;
    for (const core::PageRange& r : s.set.remove(id))
      raw_mprotect(r.addr, r.len, r.program_prot >= 0 ? r.program_prot : PROT_READ | PROT_WRITE);
    auto it = s.watches.find(id);
    if (it != s.watches.end()) it->second->alive.store(false);
    if (s.set.watch_count() == 0) s.active.store(false, std::memory_order_release);
  }
  if (armed_count_locked() == 0) intercept_syscalls(false);
}

std::size_t armed_count_locked() noexcept {
  Locked locked;
  return state().set.watch_count();
}

std::uint64_t hits(std::uint64_t id) noexcept {
  std::lock_guard<std::mutex> api(g_api_mutex);
  auto it = state().watches.find(id);
  return it != state().watches.end() ? it->second->hits.load() : 0;
}

bool alive(std::uint64_t id) noexcept {
  std::lock_guard<std::mutex> api(g_api_mutex);
  auto it = state().watches.find(id);
  return it != state().watches.end() && it->second->alive.load();
}

Stats stats() noexcept {
  const AtomicStats& a = state().stats;
  return Stats{a.emulated.load(), a.displaced.load(), a.last_resort.load(), a.kernel_writes.load(),
               a.unwatched.load(), a.foreign_faults.load(), a.unprotected_syscalls.load()};
}

std::size_t armed_count() noexcept {
  std::lock_guard<std::mutex> api(g_api_mutex);
  Locked locked;
  return state().set.watch_count();
}

void detail::end_watches(std::uint64_t addr, std::uint64_t len, const char* syscall, std::uint64_t pc) noexcept {
  State& s = state();
  // Copy the ids first: removing changes the set being walked. At most a few per call.
  std::uint64_t ids[64];
  std::size_t n = 0;
  s.set.for_each_touched(addr, len, [&](const core::PageWatch& w, std::uint64_t, std::uint64_t) {
    if (n < 64) ids[n++] = w.id;
  });
  // The pages are forgotten, not removed (removal allocates): a mapping made there later is
  // not protected by us, and disarm() hands nothing back for them.
  s.set.forget(addr, len);
  for (std::size_t i = 0; i < n; ++i) {
    auto it = s.watches.find(ids[i]);
    if (it == s.watches.end()) continue;
    Watch& w = *it->second;
    w.alive.store(false);
    if (w.options.on_end) {
      PageEnd e;
      e.watch_id = ids[i];
      e.syscall = syscall;
      e.pc = pc;
      e.tid = me();
      w.options.on_end(e);
    }
  }
}

}  // namespace hwbp::page

extern "C" bool hwbp_page_sigtrap(siginfo_t* si, void* uc) noexcept {
  return hwbp::page::detail::handle_sigtrap(si, uc);
}
