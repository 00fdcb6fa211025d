// System-call stops of the ptrace page transport: kernel writes into protected pages
// (redirected, or released for the call and diffed) and the program's memory management.
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include <algorithm>

#include "ptrace/page_transport_state.hpp"
#include "ptrace/sys_error.hpp"

namespace hwbp::ptrace {
namespace {

using Kind = InFlightCall::Kind;
constexpr std::uint64_t kPage = 4096;
constexpr std::uint32_t kAuditArchX86_64 = 0xC000003E;  // linux/audit.h
constexpr std::uint64_t kMaxRedirect = 256u << 20;      // larger outputs are released instead
constexpr std::uint64_t kMremapFixed = 2, kMremapDontunmap = 4;

std::uint64_t round_up(std::uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }
bool is_error(long rval) { return rval < 0 && rval > -4096; }

// Adds page ranges to a sorted, merged list.
void add_ranges(std::vector<core::PageRange>& to, const std::vector<core::PageRange>& more) {
  std::vector<std::uint64_t> pages;
  for (const auto& list : {to, more})
    for (const core::PageRange& r : list)
      for (std::uint64_t p = r.addr; p < r.addr + r.len; p += kPage) pages.push_back(p);
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  to.clear();
  for (std::uint64_t p : pages)
    if (!to.empty() && to.back().addr + to.back().len == p)
      to.back().len += kPage;
    else
      to.push_back({p, kPage});
}

}  // namespace

void PageTransport::on_syscall_stop(pid_t tid) {
  try {
    s_->syscall_stop(tid);
  } catch (const ThreadGone&) {
    // killed meanwhile: its exit is among the deferred stops
  }
}

void PageTransport::State::syscall_stop(pid_t tid) {
  __ptrace_syscall_info info{};
  if (::ptrace(PTRACE_GET_SYSCALL_INFO, tid, reinterpret_cast<void*>(sizeof info), &info) <= 0) return;
  // int 0x80 from a 64-bit process uses the i386 table: not interpreted (docs).
  if (info.arch != kAuditArchX86_64) return;
  const std::uint64_t pc = info.instruction_pointer - 2;  // the 2-byte syscall instruction
  if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
    std::array<std::uint64_t, 6> args;
    std::copy(std::begin(info.entry.args), std::end(info.entry.args), args.begin());
    syscall_entry(tid, static_cast<long>(info.entry.nr), args, pc);
  } else if (info.op == PTRACE_SYSCALL_INFO_EXIT) {
    syscall_exit(tid, static_cast<long>(info.exit.rval), pc);
  }
}

void PageTransport::State::syscall_entry(pid_t tid, long nr, const std::array<std::uint64_t, 6>& args,
                                         std::uint64_t pc) {
  std::optional<InFlightCall> rewound;
  if (auto it = in_flight.find(tid); it != in_flight.end()) {
    if (it->second.kind == Kind::rewound && it->second.nr == nr)
      rewound = std::move(it->second);
    else
      drop(it->second);
    in_flight.erase(tid);
  }
  if (!armed()) return;
  const SyscallEffect e = syscall_effect(nr, args, TargetReader{tracee});
  InFlightCall c;
  c.nr = nr;
  c.args = args;
  c.pc = pc;
  switch (e.kind) {
    case SyscallEffect::Kind::none: return;
    case SyscallEffect::Kind::redirect:
    case SyscallEffect::Kind::redirect_iov: return entry_redirect(tid, e, std::move(c), rewound);
    case SyscallEffect::Kind::released: return entry_release(tid, e.outputs, std::move(c), rewound);
    case SyscallEffect::Kind::unmap:
      if (set.overlaps_protected(set.page_of(args[0]), round_up(args[1] + (args[0] & (kPage - 1)))) ||
          overlaps_scratch(args[0], args[1])) {
        c.kind = Kind::unmap;
        in_flight[tid] = std::move(c);
      }
      return;
    case SyscallEffect::Kind::remap:
      if (overlaps_scratch(args[0], args[1])) forget_scratch();  // ours moved: map anew when needed
      if (set.overlaps_protected(set.page_of(args[0]), round_up(args[1] + (args[0] & (kPage - 1)))) ||
          ((args[3] & kMremapFixed) && set.overlaps_protected(args[4], round_up(args[2])))) {
        c.kind = Kind::remap;
        in_flight[tid] = std::move(c);
      }
      return;
    case SyscallEffect::Kind::protect:
      if (set.overlaps_protected(set.page_of(args[0]), round_up(args[1] + (args[0] & (kPage - 1))))) {
        c.kind = Kind::protect;
        in_flight[tid] = std::move(c);
        if (args[2] & PROT_WRITE) {
          // The program's mprotect must not make a watched page writable, not even until the
          // exit stop: the kernel gets the protection without PROT_WRITE; the exit gives the
          // unwatched pages of the range their PROT_WRITE.
          GeneralRegisters r = get_registers(tid);
          r.rdx = args[2] & ~std::uint64_t(PROT_WRITE);
          set_registers(tid, r);
        }
      }
      return;
    case SyscallEffect::Kind::discard: {
      std::vector<core::PageRange> pages = protected_in(args[0], args[1]);
      if (pages.empty()) return;
      c.kind = Kind::discard;
      c.snapshot = snapshot(pages);
      c.pages = std::move(pages);
      in_flight[tid] = std::move(c);
      return;
    }
    case SyscallEffect::Kind::kernel_area: {
      if (rewound || args[0] == 0 || !set.overlaps_protected(args[0], e.area_len)) return;
      const std::string why = fmt::format(
          "its page holds thread {}'s {} area, which the kernel writes outside system calls", tid, e.name);
      InjectionSession session = inject(tid);
      end_watches(&session, args[0], e.area_len, tid, pc, why, false);
      session.finish();  // rewound: the call runs with the page the program's again
      c.kind = Kind::rewound;
      in_flight[tid] = std::move(c);
      return;
    }
    case SyscallEffect::Kind::check_mapped:
      c.kind = Kind::check_mapped;
      in_flight[tid] = std::move(c);
      return;
  }
}

void PageTransport::State::entry_redirect(pid_t tid, const SyscallEffect& e, InFlightCall c,
                                          const std::optional<InFlightCall>& rewound) {
  auto hits_protected = [this](const std::vector<OutputRange>& v) {
    return std::any_of(v.begin(), v.end(),
                       [this](const OutputRange& o) { return set.overlaps_protected(o.addr, o.len); });
  };
  const bool buffers_hit = hits_protected(e.outputs), extra_hit = hits_protected(e.extra);
  if (!buffers_hit && !extra_hit) return;
  std::vector<OutputRange> all = e.outputs;
  all.insert(all.end(), e.extra.begin(), e.extra.end());
  std::uint64_t total = 0;
  for (const OutputRange& o : e.outputs) total += o.len;
  const bool iov = e.kind == SyscallEffect::Kind::redirect_iov;
  if (extra_hit || total > kMaxRedirect || (rewound && rewound->after_rewind == Kind::released))
    return entry_release(tid, std::move(all), std::move(c), rewound);
  const std::uint64_t need = total + (iov ? 16 : 0);
  std::optional<std::uint64_t> buf = buffers.acquire(need);
  if (!buf) {
    if (rewound) return entry_release(tid, std::move(all), std::move(c), rewound);
    // Map a buffer: an injection, so this entry is rewound and comes again.
    InjectionSession session = inject(tid);
    const bool ok = buffers.grow(session, need);
    session.finish();
    c.kind = Kind::rewound;
    c.after_rewind = ok ? Kind::redirect : Kind::released;
    in_flight[tid] = std::move(c);
    return;
  }
  GeneralRegisters r = get_registers(tid);
  c.arg = e.arg;
  c.scratch = *buf;
  for (const OutputRange& o : e.outputs) c.iov.emplace_back(o.addr, o.len);
  if (iov) {
    const std::uint64_t one[2] = {*buf + 16, total};  // struct iovec
    tracee.memory().write(*buf, {reinterpret_cast<const std::uint8_t*>(one), sizeof one});
    set_argument(r, e.arg, *buf);
    set_argument(r, e.arg + 1, 1);
    c.kind = Kind::redirect_iov;
  } else {
    set_argument(r, e.arg, *buf);
    c.kind = Kind::redirect;
  }
  set_registers(tid, r);
  in_flight[tid] = std::move(c);
}

void PageTransport::State::entry_release(pid_t tid, std::vector<OutputRange> outputs, InFlightCall c,
                                         const std::optional<InFlightCall>& rewound) {
  if (rewound && rewound->after_rewind == Kind::released && !rewound->pages.empty()) {
    c = *rewound;  // released at the first entry: the pages and their snapshot
    c.kind = Kind::released;
    in_flight[tid] = std::move(c);
    return;
  }
  std::vector<core::PageRange> pages;
  for (const OutputRange& o : outputs) add_ranges(pages, protected_in(o.addr, o.len));
  if (pages.empty()) return;
  c.snapshot = snapshot(pages);
  std::vector<core::PageRange> to_release;
  for (const core::PageRange& r : pages)
    for (std::uint64_t p = r.addr; p < r.addr + r.len; p += kPage)
      if (released[p]++ == 0) add_ranges(to_release, {{p, kPage}});
  c.pages = std::move(pages);
  ++stats.released_calls;
  if (to_release.empty()) {  // another call holds them released already
    c.kind = Kind::released;
    in_flight[tid] = std::move(c);
    return;
  }
  InjectionSession session = inject(tid);
  for (const core::PageRange& r : to_release) unprotect(session, r);
  session.finish();  // rewound: the call runs again with its pages the program's
  c.kind = Kind::rewound;
  c.after_rewind = Kind::released;
  in_flight[tid] = std::move(c);
}

void PageTransport::State::syscall_exit(pid_t tid, long rval, std::uint64_t pc) {
  auto it = in_flight.find(tid);
  if (it == in_flight.end()) {
    if (!pending_protect.empty()) {
      InjectionSession session = inject(tid);
      apply_pending(session);
      session.finish();
    }
    return;
  }
  InFlightCall c = std::move(it->second);
  in_flight.erase(it);
  const char* name = syscall_name(c.nr);
  const bool failed = is_error(rval);
  GeneralRegisters r = get_registers(tid);
  switch (c.kind) {
    case Kind::redirect:
    case Kind::redirect_iov: exit_redirect(tid, c, rval, r); break;
    case Kind::released:
      report_diff(tid, c.pages, c.snapshot, pc, pc + 2, name, r);
      reprotect(tid, c.pages);
      break;
    case Kind::unmap:
      if (!failed && overlaps_scratch(c.args[0], c.args[1])) forget_scratch();
      if (!failed) {
        InjectionSession session = inject(tid);
        end_watches(&session, c.args[0], c.args[1], tid, pc,
                    c.nr == SYS_munmap ? "its memory was unmapped by munmap"
                                       : "its memory was replaced by mmap(MAP_FIXED)");
        session.finish();
      }
      break;
    case Kind::remap:
      if (!failed) exit_remap(tid, c, rval);
      break;
    case Kind::protect:
      if (r.rdx != c.args[2]) {
        r.rdx = c.args[2];  // the syscall ABI preserves argument registers: give it back
        set_registers(tid, r);
      }
      if (!failed) exit_protect(tid, c);
      break;
    case Kind::discard:
      if (!failed) report_diff(tid, c.pages, c.snapshot, pc, pc + 2, name, r);
      break;
    case Kind::check_mapped: {
      InjectionSession session = inject(tid);
      end_unmapped(&session, tid, pc, name);
      session.finish();
      break;
    }
    case Kind::rewound:
    case Kind::none: break;
  }
}

bool PageTransport::State::overlaps_scratch(std::uint64_t addr, std::uint64_t len) const {
  return scratch.mapped() && addr < scratch.base() + scratch.size() && scratch.base() < addr + len;
}

void PageTransport::State::forget_scratch() {
  // The program unmapped or replaced our scratch area (it cannot know it is there): forget it;
  // the next injection finds a gateway again and maps a new one.
  scratch.forget();
  gateway = 0;
  step_code.clear();
}

void PageTransport::State::exit_redirect(pid_t tid, const InFlightCall& c, long rval, GeneralRegisters& r) {
  // Restore the arguments first: a call that returns -ERESTARTSYS restarts with them.
  set_argument(r, c.arg, c.args[std::size_t(c.arg)]);
  if (c.kind == Kind::redirect_iov) set_argument(r, c.arg + 1, c.args[std::size_t(c.arg) + 1]);
  set_registers(tid, r);
  buffers.release(c.scratch);
  if (rval <= 0) return;
  const std::uint64_t n = static_cast<std::uint64_t>(rval);
  std::vector<std::uint8_t> data(n), old_bytes;
  tracee.memory().read(c.scratch + (c.kind == Kind::redirect_iov ? 16 : 0), data);
  std::uint64_t done = 0;
  for (auto [addr, len] : c.iov) {
    if (done >= n) break;
    const std::uint64_t chunk = std::min(len, n - done);
    old_bytes.resize(chunk);
    std::span<const std::uint8_t> fresh(data.data() + done, chunk);
    // The program's buffer may have been unmapped by another thread meanwhile: then the data
    // is lost, as a kernel copy_to_user would have failed.
    if (tracee.memory().try_read(addr, old_bytes) && tracee.memory().try_write(addr, fresh))
      report(tid, addr, chunk, old_bytes.data(), fresh.data(), c.pc, c.pc + 2, syscall_name(c.nr), r);
    done += chunk;
  }
  ++stats.redirected;
}

void PageTransport::State::reprotect(pid_t tid, const std::vector<core::PageRange>& pages) {
  std::vector<core::PageRange> again;
  for (const core::PageRange& r : pages)
    for (std::uint64_t p = r.addr; p < r.addr + r.len; p += kPage) {
      auto it = released.find(p);
      if (it == released.end() || --it->second != 0) continue;
      released.erase(it);
      if (set.protects(p)) add_ranges(again, {{p, kPage}});
    }
  if (again.empty()) return;
  InjectionSession session = inject(tid);
  for (const core::PageRange& r : again) protect(session, r);
  session.finish();
}

void PageTransport::State::drop(const InFlightCall& c) {
  if (c.kind == Kind::redirect || c.kind == Kind::redirect_iov) buffers.release(c.scratch);
  if (c.kind == Kind::released || (c.kind == Kind::rewound && c.after_rewind == Kind::released))
    for (const core::PageRange& r : c.pages)
      for (std::uint64_t p = r.addr; p < r.addr + r.len; p += kPage)
        if (auto it = released.find(p); it != released.end() && --it->second == 0) {
          released.erase(it);
          pending_protect.push_back({p, kPage});
        }
}

void PageTransport::State::exit_remap(pid_t tid, const InFlightCall& c, long rval) {
  const std::uint64_t old = set.page_of(c.args[0]);
  const std::uint64_t old_size = round_up(c.args[1] + (c.args[0] - old)), new_size = round_up(c.args[2]);
  const std::uint64_t flags = c.args[3], new_addr = static_cast<std::uint64_t>(rval);
  InjectionSession session = inject(tid);
  if (flags & kMremapFixed)  // whatever was mapped at the new address was replaced
    end_watches(&session, new_addr, new_size, tid, c.pc, "its memory was replaced by mremap(MREMAP_FIXED)");
  // Pages that were ours keep our read-only protection wherever they are now, and so does the
  // part a mapping of ours grew by (it extends the same VMA): give them the program's.
  std::vector<std::pair<std::uint64_t, int>> fix;
  const auto last_old = set.program_protection(old + old_size - kPage);
  for (std::uint64_t off = 0; off < new_size; off += kPage) {
    auto prot = off < old_size ? set.program_protection(old + off) : last_old;
    if (prot) fix.emplace_back(new_addr + off, *prot < 0 ? PROT_READ | PROT_WRITE : *prot);
  }
  if (new_addr != old || (flags & kMremapDontunmap)) {
    // Moved: the watches were on the old addresses, which no longer hold this memory.
    end_watches(&session, old, old_size, tid, c.pc,
                fmt::format("its memory was moved by mremap to {:#x}", new_addr),
                !(flags & kMremapDontunmap));
    for (auto [addr, prot] : fix) session(SYS_mprotect, addr, kPage, prot);
  } else {
    if (new_size < old_size)
      end_watches(&session, old + new_size, old_size - new_size, tid, c.pc,
                  "its memory was unmapped by mremap (shrunk)");
    for (auto [addr, prot] : fix)
      if (addr >= old + old_size) session(SYS_mprotect, addr, kPage, prot);  // the grown part
  }
  session.finish();
}

void PageTransport::State::exit_protect(pid_t tid, const InFlightCall& c) {
  const std::uint64_t addr = set.page_of(c.args[0]);
  const std::uint64_t len = round_up(c.args[1] + (c.args[0] - addr));
  const int prot = static_cast<int>(c.args[2]);
  std::vector<core::PageRange> give_write;
  for (std::uint64_t p = addr; p < addr + len; p += kPage) {
    if (set.protects(p)) {
      set.set_program_protection({p, kPage}, prot);  // the program's wish, applied without W
      if (released.count(p) && (prot & PROT_WRITE)) add_ranges(give_write, {{p, kPage}});
    } else if (prot & PROT_WRITE) {
      add_ranges(give_write, {{p, kPage}});  // not ours: it gets exactly what it asked for
    }
  }
  if (give_write.empty()) return;
  InjectionSession session = inject(tid);
  for (const core::PageRange& r : give_write) session(SYS_mprotect, r.addr, r.len, prot);
  session.finish();
}

}  // namespace hwbp::ptrace
