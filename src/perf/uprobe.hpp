// Execute breakpoints without debug registers: the kernel's uprobe PMU (perf_uprobe, Linux 4.17,
// kernel/events/core.c and kernel/trace/trace_event_perf.c: perf_uprobe_init). A perf event of
// that PMU's dynamic type with config1 = path and config2 = file offset makes the kernel put an
// int3 at that offset of the file's text (in every mapping of the file; the event's pid/cpu
// filter which tasks count). It is still a perf event, so sigtrap / remove_on_exec / inherit /
// sig_data work as for breakpoints: one synchronous SIGTRAP (si_code TRAP_PERF) per hit in the
// hitting thread. Unlike a debug register there is no slot limit, and it works where the
// hypervisor delivers no debug exceptions. Differences callers must know:
//  - the SIGTRAP arrives after the probed instruction ran (the kernel single-steps it out of
//    line before returning to user mode: kernel/events/uprobes.c, uprobe_deny_signal()), so the
//    interrupted pc is the next instruction, not the breakpoint; si_addr is 0;
//  - opening needs CAP_PERFMON (or CAP_SYS_ADMIN): unprivileged callers get EACCES even at
//    perf_event_paranoid 2 (measured on 6.18);
//  - PERF_EVENT_IOC_MODIFY_ATTRIBUTES does not apply: moving one means opening another.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "perf/event.hpp"
#include "perf/thread_coverage.hpp"

namespace hwbp::perf {

// Where a code address lives in a file: what the uprobe PMU takes.
struct FileLocation {
  std::string path;
  std::uint64_t offset = 0;
};

// The file and offset of `addr` in process `pid` (0 = this process), from /proc/PID/maps.
// nullopt when the address is in no file-backed mapping (anonymous or JIT code: no uprobe).
std::optional<FileLocation> file_location(pid_t pid, std::uintptr_t addr);

// The uprobe PMU's dynamic type (/sys/bus/event_source/devices/uprobe/type), or -1.
int uprobe_pmu_type() noexcept;

struct UprobeAttr {
  FileLocation where;
  std::uintptr_t addr = 0;  // the probed address in the target (for identity and messages)
  bool disabled = true;
  bool inherit = false;
  bool inherit_thread = false;
  bool sigtrap = false;
  bool remove_on_exec = false;
  std::uint64_t sig_data = 0;
  std::uint64_t sample_period = 1;  // 0: count only
};

// Opens the event; 0 or -errno (-ENOENT: no uprobe PMU; -EACCES: no privilege). The Event's
// attr() says type exec at attr.addr.
int try_open_uprobe(const UprobeAttr& attr, pid_t pid, int cpu, Event& out) noexcept;
// Same, throwing hwbp::Error with a message that says what to do.
Event open_uprobe(const UprobeAttr& attr, pid_t pid, int cpu = -1);
// The uprobe on every thread of process `pid` (0 = this process), existing and future
// (inherited, as perf/thread_coverage.hpp covers a breakpoint), or on one thread only.
ThreadEvents open_uprobe_on_process(const UprobeAttr& attr, pid_t pid);
ThreadEvents open_uprobe_on_thread(const UprobeAttr& attr, pid_t tid);
// Whether this process may open uprobe events (PMU present, privilege): opens a disabled
// counting probe on one of hwbp's own functions once, then caches the answer.
bool uprobes_available();

}  // namespace hwbp::perf
