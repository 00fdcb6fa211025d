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
//  - PERF_EVENT_IOC_MODIFY_ATTRIBUTES does not apply: moving one means opening another;
//  - an *inherited* event reads its path again at every clone() of a thread that has it, from
//    the cloning thread's memory, at the address given at open (perf_event_init_task() ->
//    inherit_event() -> perf_event_alloc() -> perf_uprobe_event_init() -> strndup_user() of
//    attr.config1). If that memory changed or is not mapped there, clone() fails: measured on
//    6.18, pthread_create returns ENOENT, EINVAL or EFAULT. So the path must stay in place for the
//    event's life (open_uprobe_on_process keeps it), and another process (hwbp run/attach) must
//    not inherit its uprobes into the program: its pointer means nothing there.
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
  // Where the kernel reads the path (config1), when not where.path: memory that outlives an
  // inherited event (see above).
  const char* kernel_path = nullptr;
  std::uintptr_t addr = 0;  // the probed address in the target (for identity and messages)
  bool disabled = true;
  bool inherit = false;
  bool inherit_thread = false;
  bool sigtrap = false;
  bool remove_on_exec = false;
  std::uint64_t sig_data = 0;
  std::uint64_t sample_period = 1;  // 0: count only
};

// The errno of a uprobe the kernel cannot place on that instruction: its internal ENOTSUPP
// (include/linux/errno.h, 524; strerror knows no name for it), from the x86 instruction check
// (arch/x86/kernel/uprobes.c: arch_uprobe_analyze_insn() refuses a lock or an es/cs/ss/ds
// segment-override prefix and opcodes outside its tables). Measured on 6.18: a function whose
// first instruction is `lock add` gets it at perf_event_open.
inline constexpr int kUprobeRefusesInstruction = 524;

// Opens the event; 0 or -errno (-ENOENT: no uprobe PMU; -EACCES: no privilege;
// -kUprobeRefusesInstruction). The Event's attr() says type exec at attr.addr.
int try_open_uprobe(const UprobeAttr& attr, pid_t pid, int cpu, Event& out) noexcept;
// Same, throwing hwbp::Error with a message that says what to do.
Event open_uprobe(const UprobeAttr& attr, pid_t pid, int cpu = -1);
// The uprobe on every thread of process `pid` (0 = this process), existing and future
// (inherited, as perf/thread_coverage.hpp covers a breakpoint: the path the kernel re-reads at
// each clone is kept by the returned ThreadEvents, so pid must be this process), or on one thread
// only.
ThreadEvents open_uprobe_on_process(const UprobeAttr& attr, pid_t pid);
ThreadEvents open_uprobe_on_thread(const UprobeAttr& attr, pid_t tid);
// Whether this process may open uprobe events (PMU present, privilege): opens a disabled
// counting probe on one of hwbp's own functions once, then caches the answer.
bool uprobes_available();

}  // namespace hwbp::perf
