// The page-protection delivery of `hwbp run|attach` (issue 15): write and modify watches of any
// length and number, exact on every thread, where debug registers cannot serve them (silent
// hypervisor, no free slot, or --engine page). It wraps the ptrace transport of the page engine
// (src/ptrace/page_transport.hpp: pages made read-only, every store to them completed by hwbp,
// system calls that write them redirected or released and diffed) and turns what it reports
// into the session's HitEvents (delivery.hpp's mapping):
//   PageHit watch id  -> the WatchSet's id (one HitEvent per watch a store touched)
//   pc                -> HitEvent::pc, pc_is = the_access (the store instruction itself; for a
//                        store the kernel made: the system call instruction, made_by = its name)
//   old / new bytes   -> the watch's whole bytes before / after the store, exact (the engine is
//                        the only writer of a protected page; stores are completed one at a time)
//   the stopped thread -> unwind (symbols::backtrace_thread, registers already after the store)
// and a PageEnd (the watch's memory went away, exec) into the reporter's "watch ended" event.
//
// The session drives it from the tracer's stop loop, which follows the transport's integration
// contract (tracer.hpp: PTRACE_SYSCALL resumes while pages are watched, syscall stops, fork
// children cleaned before they run, deferred stops first). With nothing armed it costs nothing:
// threads resume with PTRACE_CONT and no system call stops, so hardware-only sessions run as
// before (a fork adds one stop of the child, which is let go at once).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "delivery.hpp"
#include "hit_report.hpp"
#include "ptrace/page_transport.hpp"
#include "ptrace/remote_memory.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {

class PageDelivery : public Delivery {
 public:
  PageDelivery(pid_t pid, WatchSet& watches, Symbolizer& symbolizer, HitSink& sink, Reporter& reporter);
  ~PageDelivery() override;

  const char* mode() const noexcept override { return "ptrace"; }
  bool uses_sigtrap() const noexcept override { return false; }
  void forget_shadow(core::WatchId /*watch*/) override {}  // exact old bytes: no shadow needed
  void seed_shadow(core::WatchId /*watch*/, const Bytes& /*bytes*/) override {}
  bool owns(const siginfo_t& info) const override { return info.si_signo == SIGSEGV && !ids_.empty(); }

  // Arms watch `id` on the page engine; `stopped_tid` is in an interrupt, exec or signal stop.
  // Throws hwbp::Error with the transport's one-line reason.
  void arm(pid_t stopped_tid, core::WatchId id);
  // Ends watch `id` early (the --at frame it lives in returned): its pages are given back.
  void disarm(pid_t stopped_tid, core::WatchId id);
  bool any_armed() const noexcept { return transport_->armed_count() != 0; }
  // Has ever armed: a SIGSEGV of a store to one of its pages may still be queued on a thread,
  // even after release() (on_signal() lets that store run again, unwatched).
  bool used() const noexcept { return used_; }
  // Armed since the last release(): pages are protected or its scratch memory is mapped in the
  // program (release() before detaching).
  bool needs_release() const noexcept { return needs_release_; }
  const ptrace::PageTransport& transport() const noexcept { return *transport_; }

  // The tracer's hooks (tracer.hpp TraceHandler; the transport's integration contract).
  bool resume(pid_t tid, int sig) { return transport_->resume(tid, sig); }
  std::optional<std::pair<pid_t, int>> take_deferred();
  bool on_signal(pid_t tid, const siginfo_t& info) { return transport_->on_signal_stop(tid, info); }
  void on_syscall_stop(pid_t tid) { transport_->on_syscall_stop(tid); }
  bool on_new_task(pid_t creator, pid_t child, int event, std::optional<int> first);
  // true: a vfork child exec'd (detach it); false: the process exec'd (every page watch ended).
  bool on_exec(pid_t tid);
  void on_thread_exit(pid_t tid) { transport_->on_thread_exit(tid); }
  // Gives every page its protection back and unmaps the engine's memory (before detaching).
  void release(pid_t stopped_tid);

 private:
  void on_hit(const ptrace::PageHit& hit);
  void on_end(const ptrace::PageEnd& end);
  std::optional<core::WatchId> watch_of(std::uint64_t page_id) const;
  // The program's memory (/proc/PID/mem, opened once): a watch's bytes around a store.
  const ptrace::RemoteMemory& memory();

  WatchSet& watches_;
  Symbolizer& symbolizer_;
  HitSink& sink_;
  Reporter& reporter_;
  std::unique_ptr<ptrace::PageTransport> transport_;
  std::map<std::uint64_t, core::WatchId> ids_;  // the transport's watch id -> ours
  std::optional<ptrace::RemoteMemory> memory_;
  bool used_ = false;
  bool needs_release_ = false;
};

}  // namespace hwbp::cli
