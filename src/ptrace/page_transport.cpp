// PageTransport: arming and disarming, resuming, new tasks, exec, detaching; and the helpers the
// other page_*.cpp files share (page_transport_state.hpp).
#include "ptrace/page_transport.hpp"

#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "ptrace/memory_map.hpp"
#include "ptrace/page_transport_state.hpp"
#include "ptrace/proc_status.hpp"
#include "ptrace/sys_error.hpp"

namespace hwbp::ptrace {
namespace {

constexpr std::uint64_t kPage = 4096;

// KernelPageSize of the mapping holding addr (smaps): hugetlb mappings report 2048 kB or more.
std::uint64_t kernel_page_kb(pid_t pid, std::uint64_t addr) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    std::uint64_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      inside = addr >= lo && addr < hi;
      continue;
    }
    std::uint64_t kb = 0;
    if (inside && std::sscanf(line.c_str(), "KernelPageSize: %lu kB", &kb) == 1) return kb;
  }
  return 4;
}

// The rseq area of a stopped thread (PTRACE_GET_RSEQ_CONFIGURATION, Linux 5.13), or {0, 0}.
std::pair<std::uint64_t, std::uint64_t> rseq_area(pid_t tid) {
  __ptrace_rseq_configuration conf{};
  if (::ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, reinterpret_cast<void*>(sizeof conf), &conf) <= 0)
    return {0, 0};
  return {conf.rseq_abi_pointer, conf.rseq_abi_size};
}

}  // namespace

// ---- State helpers ---------------------------------------------------------------------------

bool TargetReader::operator()(std::uint64_t addr, void* out, std::size_t len) const {
  return tracee.memory().try_read(addr, {static_cast<std::uint8_t*>(out), len});
}

std::uint64_t PageTransport::State::ensure_gateway() {
  if (!gateway) gateway = find_syscall_gateway(tracee);
  return gateway;
}

InjectionSession PageTransport::State::inject(pid_t tid) {
  return InjectionSession(tracee, tid, ensure_gateway());
}

const ScratchArea& PageTransport::State::scratch_area(InjectionSession& session) {
  if (!scratch.mapped()) {
    scratch = ScratchArea::create(session, tracee);
    gateway = scratch.gateway();  // ours from now on: never unmapped by the program
    step_code.clear();
  }
  return scratch;
}

void PageTransport::State::mprotect(InjectionSession& session, std::uint64_t addr, std::uint64_t len,
                                    int prot) {
  long r = session(SYS_mprotect, addr, len, prot);
  if (r != 0)
    throw Error(Errc::system,
                fmt::format("cannot change the protection of {:#x}+{} in process {}: {}", addr, len,
                            tracee.pid(), std::strerror(static_cast<int>(-r))),
                static_cast<int>(-r));
}

namespace {
// Applies prot_of(page) to each page of range we hold, one mprotect per run of equal values.
template <typename ProtOf>
void apply(PageTransport::State& s, InjectionSession& session, const core::PageRange& range, ProtOf prot_of) {
  std::uint64_t run = 0, run_len = 0;
  int run_prot = -1;
  auto flush = [&] {
    if (run_len) s.mprotect(session, run, run_len, run_prot);
    run_len = 0;
  };
  for (std::uint64_t p = range.addr; p < range.addr + range.len; p += kPage) {
    auto prog = s.set.program_protection(p);
    if (!prog) {
      flush();
      continue;
    }
    int prot = prot_of(*prog < 0 ? PROT_READ | PROT_WRITE : *prog);
    if (run_len && (prot != run_prot || run + run_len != p)) flush();
    if (!run_len) {
      run = p;
      run_prot = prot;
    }
    run_len += kPage;
  }
  flush();
}
}  // namespace

void PageTransport::State::protect(InjectionSession& session, const core::PageRange& range) {
  apply(*this, session, range, [](int prog) { return prog & ~PROT_WRITE; });
}

void PageTransport::State::unprotect(InjectionSession& session, const core::PageRange& range) {
  apply(*this, session, range, [](int prog) { return prog; });
}

void PageTransport::State::report(pid_t tid, std::uint64_t addr, std::uint64_t len,
                                  const std::uint8_t* old_bytes, const std::uint8_t* new_bytes,
                                  std::uint64_t pc, std::uint64_t next_ip, const char* syscall,
                                  const GeneralRegisters& regs) {
  bool any = false;
  set.for_each_touched(addr, len, [&](const core::PageWatch& w, std::uint64_t start, std::uint64_t end) {
    any = true;
    auto it = watches.find(w.id);
    if (it == watches.end() || !it->second.alive) return;
    const std::size_t off = start - addr, n = end - start;
    if (!core::page_should_report(w.access, {old_bytes + off, n}, {new_bytes + off, n})) return;
    ++it->second.hits;
    if (!callbacks.on_hit) return;
    PageHit h;
    h.watch_id = w.id;
    h.tid = tid;
    h.addr = start;
    h.old_bytes.assign(old_bytes + off, old_bytes + off + n);
    h.new_bytes.assign(new_bytes + off, new_bytes + off + n);
    h.pc = pc;
    h.next_ip = next_ip;
    h.access = w.access;
    h.syscall = syscall;
    h.regs = regs;
    callbacks.on_hit(h);
  });
  if (!any) ++stats.unwatched;
}

std::vector<std::uint8_t> PageTransport::State::snapshot(const std::vector<core::PageRange>& pages) const {
  std::vector<std::uint8_t> out;
  for (const core::PageRange& r : pages) {
    std::size_t at = out.size();
    out.resize(at + r.len);
    if (!tracee.memory().try_read(r.addr, {out.data() + at, r.len}))
      std::fill(out.begin() + static_cast<std::ptrdiff_t>(at), out.end(), 0);
  }
  return out;
}

void PageTransport::State::report_diff(pid_t tid, const std::vector<core::PageRange>& pages,
                                       const std::vector<std::uint8_t>& before, std::uint64_t pc,
                                       std::uint64_t next_ip, const char* syscall,
                                       const GeneralRegisters& regs) {
  std::vector<std::uint8_t> after = snapshot(pages);
  std::size_t base = 0;
  for (const core::PageRange& r : pages) {
    const std::uint8_t* o = before.data() + base;
    const std::uint8_t* n = after.data() + base;
    for (std::uint64_t i = 0; i < r.len;) {
      if (o[i] == n[i]) {
        ++i;
        continue;
      }
      std::uint64_t j = i;
      while (j < r.len && o[j] != n[j]) ++j;
      report(tid, r.addr + i, j - i, o + i, n + i, pc, next_ip, syscall, regs);
      i = j;
    }
    base += r.len;
  }
}

std::vector<core::PageRange> PageTransport::State::protected_in(std::uint64_t addr, std::uint64_t len) const {
  std::vector<core::PageRange> out;
  if (len == 0) return out;
  const std::uint64_t end = addr + len;
  for (std::uint64_t p = set.page_of(addr); p < end && p >= set.page_of(addr); p += kPage) {
    if (!set.protects(p)) continue;
    if (!out.empty() && out.back().addr + out.back().len == p)
      out.back().len += kPage;
    else
      out.push_back({p, kPage});
  }
  return out;
}

void PageTransport::State::end_watches(InjectionSession* session, std::uint64_t addr, std::uint64_t len,
                                       pid_t tid, std::uint64_t pc, const std::string& reason,
                                       bool memory_gone) {
  // Whole pages: the kernel unmaps and protects page by page.
  const std::uint64_t first = set.page_of(addr), end = set.page_of(addr + len + kPage - 1);
  std::vector<std::uint64_t> ids = set.watches_in(first, end - first);
  if (ids.empty()) return;
  if (memory_gone) set.forget(first, end - first);
  for (std::uint64_t id : ids) {
    for (const core::PageRange& r : set.remove(id))
      if (session) {
        // Pages of the watch outside the range are still mapped: the program's protection back.
        long rc = (*session)(SYS_mprotect, r.addr, r.len,
                             r.program_prot >= 0 ? r.program_prot : PROT_READ | PROT_WRITE);
        (void)rc;  // the memory may be gone too (a racing munmap): nothing to restore then
      }
    auto it = watches.find(id);
    if (it != watches.end()) it->second.alive = false;
    if (callbacks.on_end) callbacks.on_end(PageEnd{id, tid, pc, reason});
  }
}

void PageTransport::State::end_unmapped(InjectionSession* session, pid_t tid, std::uint64_t pc,
                                        const char* syscall) {
  if (!armed()) return;
  std::vector<Mapping> maps;
  try {
    maps = read_maps(tracee.pid());
  } catch (const Error&) {
    return;
  }
  for (const core::PageRange& r : set.protected_ranges())
    for (std::uint64_t p = r.addr; p < r.addr + r.len; p += kPage)
      if (!find_mapping(maps, p))
        end_watches(session, p, kPage, tid, pc, std::string("its memory was unmapped by ") + syscall);
}

void PageTransport::State::apply_pending(InjectionSession& session) {
  std::vector<core::PageRange> pending;
  pending.swap(pending_protect);
  for (const core::PageRange& r : pending)
    if (!released.count(r.addr)) protect(session, r);
}

unsigned long long& argument(GeneralRegisters& r, int i) {
  switch (i) {
    case 0: return r.rdi;
    case 1: return r.rsi;
    case 2: return r.rdx;
    case 3: return r.r10;
    case 4: return r.r8;
    default: return r.r9;
  }
}

// ---- PageTransport ---------------------------------------------------------------------------

PageTransport::PageTransport(pid_t pid, PageCallbacks callbacks)
    : s_(std::make_unique<State>(pid, std::move(callbacks))) {}

PageTransport::~PageTransport() = default;

pid_t PageTransport::pid() const noexcept { return s_->tracee.pid(); }

std::size_t PageTransport::armed_count() const noexcept { return s_->set.watch_count(); }

bool PageTransport::alive(std::uint64_t id) const noexcept {
  auto it = s_->watches.find(id);
  return it != s_->watches.end() && it->second.alive;
}

std::uint64_t PageTransport::hits(std::uint64_t id) const noexcept {
  auto it = s_->watches.find(id);
  return it != s_->watches.end() ? it->second.hits : 0;
}

PageStats PageTransport::stats() const noexcept {
  PageStats st = s_->stats;
  st.injections = s_->tracee.injected_calls;
  return st;
}

std::uint64_t PageTransport::arm(pid_t stopped_tid, std::uint64_t addr, std::uint64_t len, Access access) {
  State& s = *s_;
  if (const char* why = core::page_refusal_reason(access))
    throw Error(Errc::invalid_request, std::string("cannot watch with access '") + to_string(access) +
                                           "' on the page engine: " + why);
  if (len == 0 || addr + len < addr)
    throw Error(Errc::invalid_request, "page watch range is empty or wraps around the address space");
  const std::string where = fmt::format("{:#x}+{}", addr, len);
  if (status_field(s.tracee.pid(), "Seccomp") == "2")
    throw Error(Errc::unsupported,
                "cannot watch " + where +
                    " with the page engine: the program runs under a "
                    "seccomp filter, which could kill it for the mprotect calls hwbp injects "
                    "(use a hardware watch)");
  // Every page mapped, private, with normal pages; remember the program's protection.
  const core::PageRange pages = s.set.pages_for(addr, len);
  auto maps = read_maps(s.tracee.pid());
  std::map<std::uint64_t, int> prot;
  for (std::uint64_t p = pages.addr; p < pages.addr + pages.len; p += kPage) {
    const Mapping* m = find_mapping(maps, p);
    if (!m)
      throw Error(Errc::invalid_request,
                  fmt::format("cannot watch {} with the page engine: page {:#x} is not mapped", where, p));
    if (m->shared)
      throw Error(Errc::invalid_request,
                  "cannot watch " + where +
                      " with the page engine: it is in a shared "
                      "mapping (other processes write it unseen; use a hardware watch)");
    if (m->path == "[vvar]" || m->path == "[vdso]" || m->path == "[vsyscall]")
      throw Error(Errc::invalid_request,
                  "cannot watch " + where + " with the page engine: it is in " + m->path);
    // hugetlb mappings show as "/anon_hugepage (deleted)" or a file on a hugetlbfs mount
    // (conventionally /dev/hugepages); smaps confirms (it is costly: read only for those).
    if ((p == pages.addr || m->start == p) && m->path.find("huge") != std::string::npos)
      if (kernel_page_kb(s.tracee.pid(), p) != 4)
        throw Error(Errc::invalid_request, "cannot watch " + where +
                                               " with the page engine: it is in a "
                                               "huge-page (hugetlb) mapping");
    prot[p] = m->prot;
  }
  // Nothing runs while the protection changes: a thread blocked in a system call that writes
  // these pages is interrupted, and restarts it under PTRACE_SYSCALL (redirected) when resumed.
  WorldStop world(s, stopped_tid);
  std::vector<pid_t> threads = world.stopped();
  threads.push_back(stopped_tid);
  for (pid_t t : threads) {
    auto [area, area_len] = rseq_area(t);
    if (area && area < pages.addr + pages.len && pages.addr < area + area_len)
      throw Error(Errc::invalid_request, "cannot watch " + where +
                                             " with the page engine: its page holds thread " +
                                             std::to_string(t) +
                                             "'s rseq area, which the kernel writes outside "
                                             "system calls (use a hardware watch)");
  }
  const std::uint64_t id = s.next_id++;
  std::vector<core::PageRange> fresh = s.set.add({id, addr, len, access});
  for (const core::PageRange& r : fresh)
    for (std::uint64_t p = r.addr; p < r.addr + r.len; p += kPage)
      s.set.set_program_protection({p, kPage}, prot.at(p));
  try {
    InjectionSession session = s.inject(stopped_tid);
    s.scratch_area(session);
    for (const core::PageRange& r : fresh) s.protect(session, r);
    session.finish();
  } catch (...) {
    auto undo = s.set.remove(id);
    try {
      InjectionSession session = s.inject(stopped_tid);
      for (const core::PageRange& r : undo) session(SYS_mprotect, r.addr, r.len, r.program_prot);
      session.finish();
    } catch (...) {
    }
    throw;
  }
  s.watches[id] = WatchInfo{};
  world.resume_all();
  return id;
}

void PageTransport::disarm(pid_t stopped_tid, std::uint64_t id) {
  State& s = *s_;
  auto it = s.watches.find(id);
  if (it == s.watches.end()) return;
  it->second.alive = false;
  std::vector<core::PageRange> freed = s.set.remove(id);
  if (freed.empty()) return;
  InjectionSession session = s.inject(stopped_tid);
  for (const core::PageRange& r : freed)
    if (!s.released.count(r.addr))  // a page released for a system call already has it
      s.mprotect(session, r.addr, r.len, r.program_prot >= 0 ? r.program_prot : PROT_READ | PROT_WRITE);
  session.finish();
}

int PageTransport::resume_request() const noexcept {
  return s_->armed() || !s_->in_flight.empty() ? PTRACE_SYSCALL : PTRACE_CONT;
}

bool PageTransport::resume(pid_t tid, int sig) {
  State& s = *s_;
  try {
    if (sig != 0 && s.armed() && s.deliver_signal_frame(tid, sig)) sig = 0;  // delivered already
  } catch (const ThreadGone&) {
    return true;  // killed meanwhile: its exit is among the deferred stops
  }
  const int request = s.armed() || s.in_flight.count(tid) ? PTRACE_SYSCALL : PTRACE_CONT;
  return s.tracee.resume(tid, request, sig);
}

std::optional<WaitedStop> PageTransport::take_deferred() { return s_->tracee.take_deferred(); }

NewTask PageTransport::on_new_task(pid_t creator, pid_t child, int event, std::optional<int> first_status) {
  State& s = *s_;
  // Does the child share our address space? kcmp(KCMP_VM) answers exactly (a clone without
  // CLONE_VM reported as PTRACE_EVENT_CLONE because its exit signal is not SIGCHLD, a vfork
  // without CLONE_VM); without kcmp, go by the event.
  constexpr int kKcmpVm = 1;
  long same = ::syscall(SYS_kcmp, creator, child, kKcmpVm, 0, 0);
  const bool shares_mm = same >= 0 ? same == 0 : event != PTRACE_EVENT_FORK;
  if (shares_mm) {
    if (status_field(child, "Tgid") != std::to_string(s.tracee.pid())) s.vfork_children.insert(child);
    return NewTask::traced;
  }
  // A separate process: it inherited our read-only pages and scratch mappings, not the engine.
  // Give them back before it runs one instruction, then let it go.
  try {
    Tracee child_tracee(child);
    if (!first_status) child_tracee.wait_stop(child);
    if (s.armed() || s.scratch.mapped()) {
      InjectionSession session(child_tracee, child,
                               s.gateway ? s.gateway : find_syscall_gateway(child_tracee));
      for (const core::PageRange& r : s.set.protected_ranges()) s.unprotect(session, r);
      s.buffers.unmap_in(session);
      if (s.scratch.mapped()) session(SYS_munmap, s.scratch.base(), s.scratch.size());
      session.finish();
    }
    child_tracee.detach(child);
  } catch (const Error&) {
    // Killed before it ran (nothing to clean; its exit status belongs to its parent), or gone
    // while cleaned: detach whatever is left of it.
    ::ptrace(PTRACE_DETACH, child, nullptr, 0);
  }
  return NewTask::detached;
}

ExecOutcome PageTransport::on_exec(pid_t tid) {
  State& s = *s_;
  if (s.vfork_children.erase(tid)) {
    s.in_flight.erase(tid);
    s.tracee.forget(tid);
    return ExecOutcome::detach_child;
  }
  // The old address space is gone with every protection and scratch mapping in it.
  std::vector<std::uint64_t> ids;
  for (auto& [id, w] : s.watches)
    if (w.alive) ids.push_back(id);
  for (std::uint64_t id : ids) {
    s.set.remove(id);
    s.watches[id].alive = false;
    if (s.callbacks.on_end)
      s.callbacks.on_end(PageEnd{id, tid, 0, "the program called execve: its address space was replaced"});
  }
  s.set = core::PageSet();
  s.scratch.forget();
  s.buffers.forget();
  s.step_code.clear();
  s.in_flight.clear();
  s.released.clear();
  s.last_retry.clear();
  s.gateway = 0;
  s.tracee.on_exec();
  return ExecOutcome::process;
}

void PageTransport::on_thread_exit(pid_t tid) {
  State& s = *s_;
  auto it = s.in_flight.find(tid);
  if (it != s.in_flight.end()) {
    if (it->second.kind == InFlightCall::Kind::redirect ||
        it->second.kind == InFlightCall::Kind::redirect_iov)
      s.buffers.release(it->second.scratch);
    if (it->second.kind == InFlightCall::Kind::released)
      for (const core::PageRange& r : it->second.pages)
        for (std::uint64_t p = r.addr; p < r.addr + r.len; p += kPage)
          if (s.released.count(p) && --s.released[p] == 0) {
            s.released.erase(p);
            s.pending_protect.push_back({p, kPage});  // re-protected at the next injection
          }
    s.in_flight.erase(it);
  }
  s.tracee.forget(tid);
  s.vfork_children.erase(tid);
  s.last_retry.erase(tid);
}

void PageTransport::release(pid_t stopped_tid) {
  State& s = *s_;
  WorldStop world(s, stopped_tid);
  // System calls still redirected to our buffers: point them back at the program's own (they
  // restart with the registers set here), so nothing lands in memory about to be unmapped.
  std::vector<pid_t> calling;
  for (const auto& [t, c] : s.in_flight) calling.push_back(t);
  for (pid_t t : calling) {
    // Stopped at the exit of its call (the interrupt ended a blocking read): finish it the
    // usual way, which copies any data in and restores the arguments.
    __ptrace_syscall_info info{};
    if (t != stopped_tid &&
        ::ptrace(PTRACE_GET_SYSCALL_INFO, t, reinterpret_cast<void*>(sizeof info), &info) > 0 &&
        info.op == PTRACE_SYSCALL_INFO_EXIT)
      on_syscall_stop(t);
  }
  for (auto it = s.in_flight.begin(); it != s.in_flight.end();) {
    const pid_t t = it->first;
    const InFlightCall& c = it->second;
    if (c.kind == InFlightCall::Kind::redirect || c.kind == InFlightCall::Kind::redirect_iov) {
      try {
        GeneralRegisters r = get_registers(t);
        set_argument(r, c.arg, c.args[std::size_t(c.arg)]);
        if (c.kind == InFlightCall::Kind::redirect_iov)
          set_argument(r, c.arg + 1, c.args[std::size_t(c.arg) + 1]);
        set_registers(t, r);
      } catch (const Error&) {
      }
    }
    it = s.in_flight.erase(it);
  }
  InjectionSession session = s.inject(stopped_tid);
  for (const core::PageRange& r : s.set.protected_ranges()) s.unprotect(session, r);
  s.buffers.destroy(session);
  s.scratch.destroy(session);
  s.gateway = 0;
  session.finish();
  for (auto& [id, w] : s.watches) w.alive = false;
  s.set = core::PageSet();
  s.released.clear();
  s.pending_protect.clear();
  world.resume_all();
}

}  // namespace hwbp::ptrace
