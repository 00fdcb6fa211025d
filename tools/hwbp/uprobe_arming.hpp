// Execute breakpoints without debug registers for `hwbp run|attach` (issue 15): the perf uprobe
// PMU (perf/uprobe.hpp), one event per thread with sigtrap + remove_on_exec, so the tracer sees
// each hit as a SIGTRAP (TRAP_PERF, the tool's sig_data tag) and discards it. Not inherited, unlike
// the debug-register events of slot_arming.hpp: the kernel re-reads an inherited uprobe's path from
// the *cloning* thread's memory (perf/uprobe.hpp), where hwbp's pointer means nothing, and every
// thread creation of the program failed (pthread_create: EFAULT). New threads get their events
// from the tracer instead, at their creator's clone event, before they run (on_new_thread). No slot limit, any number,
// and it works where the hypervisor delivers no debug exceptions. The kernel puts the int3 in the
// file's text and single-steps the probed instruction out of line itself, so threads racing
// through the breakpoint are all counted: exact counts with no stop of other threads.
// Needs CAP_PERFMON or root (the uprobe PMU refuses unprivileged callers at any paranoid level).
//
// Also the dynamic loader's hook (_dl_debug_state) that arms watches in libraries loaded later
// (--pending, and names in the initial libraries at `run` start): a uprobe needs no slot and
// fires where debug exceptions are silent.
//
// The SIGTRAP arrives after the probed instruction ran: the hit is reported at the breakpoint's
// address (the watch's), the stack unwound from the stopped thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "core/sig_data.hpp"
#include "delivery.hpp"
#include "hit_report.hpp"
#include "perf/background_closer.hpp"
#include "perf/event.hpp"
#include "perf/uprobe.hpp"
#include "session_hook.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {

class UprobeArming {
 public:
  UprobeArming(pid_t pid, WatchSet& watches, Symbolizer& symbolizer, HitSink& sink)
      : pid_(pid), watches_(watches), symbolizer_(symbolizer), sink_(sink) {}

  // Can uprobe events be opened here (the PMU exists and this process has the privilege)?
  static bool available();

  // Arms execute watch `id` on every thread. Throws hwbp::Error (not in a file mapping, refused).
  void arm(core::WatchId id);
  // hwbp's own breakpoints (session_hook.hpp), one of each kind at most.
  void arm_hook(SessionHook kind, std::uint64_t addr);
  void disarm_hook(SessionHook kind);
  void disarm_hooks();

  // Is this tag (the tool's sig_data) one of the uprobe events'?
  static bool owns(const core::SigData& tag) noexcept { return tag.slot >= kSlotBase; }
  // Which hook of hwbp's this tag is, if it is one.
  std::optional<SessionHook> hook_of(const core::SigData& tag) const noexcept {
    if (tag.slot < kHookSlotBase) return std::nullopt;
    return static_cast<SessionHook>(tag.slot - kHookSlotBase);
  }
  // A hit of watch event `tag` on stopped thread `tid`: one HitEvent to the sink.
  void on_stop(pid_t tid, const core::SigData& tag);

  // A thread the program created (its creator's PTRACE_EVENT_CLONE; the thread has not run):
  // every probe opened on it too. A thread that is already gone is skipped.
  void on_new_thread(pid_t tid);
  // A thread about to exit (PTRACE_EVENT_EXIT): its events are disabled and closed in the
  // background (perf/background_closer.hpp: ~40 ms each), so dead threads' events do not pile up.
  void on_thread_exit(pid_t tid);

  // Every event disabled now (no SIGTRAP after this returns), closed in the background.
  void close_all();
  // After execve: the events are gone (remove_on_exec) and the address space is new.
  void reset_after_exec(pid_t pid);

 private:
  // Slots of the sig_data tag beyond any debug-register slot number.
  static constexpr std::uint16_t kSlotBase = 0x8000;
  static constexpr std::uint16_t kHookSlotBase = 0xfff0;  // + SessionHook
  struct Probe {
    std::uint64_t addr = 0;
    perf::UprobeAttr attr;               // what each thread's event is opened with
    std::map<pid_t, perf::Event> events;  // by thread; new threads' added by on_new_thread
  };
  Probe open_probe(std::uint64_t addr, std::uint16_t slot, const std::string& what) const;
  static void open_on_thread(Probe& p, pid_t tid);
  void close_probe(Probe& p);

  pid_t pid_;
  WatchSet& watches_;
  Symbolizer& symbolizer_;
  HitSink& sink_;
  std::map<std::uint16_t, std::pair<core::WatchId, Probe>> probes_;  // slot -> watch, events
  std::map<SessionHook, Probe> hooks_;
  std::uint16_t next_slot_ = kSlotBase;
  perf::BackgroundCloser closer_;  // last member: joins after the probes are handed over
};

}  // namespace hwbp::cli
