#include "perf/uprobe.hpp"

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "hwbp/error.hpp"

namespace hwbp::perf {
namespace {

std::string maps_path(pid_t pid) {
  return pid == 0 ? std::string("/proc/self/maps") : "/proc/" + std::to_string(pid) + "/maps";
}

// One /proc/PID/maps line: "lo-hi perms offset dev inode   path" (the path may hold spaces).
std::optional<FileLocation> location_in_line(const std::string& line, std::uintptr_t addr) {
  unsigned long lo = 0, hi = 0, off = 0, inode = 0;
  char perms[8] = {};
  int path_at = 0;
  if (std::sscanf(line.c_str(), "%lx-%lx %7s %lx %*s %lu %n", &lo, &hi, perms, &off, &inode,
                  &path_at) < 5)
    return std::nullopt;
  if (addr < lo || addr >= hi) return std::nullopt;
  std::string path = path_at > 0 ? line.substr(static_cast<std::size_t>(path_at)) : "";
  // Anonymous memory, [vdso]-like pseudo files and deleted files cannot carry a uprobe.
  if (inode == 0 || path.empty() || path[0] != '/' || path.ends_with(" (deleted)"))
    return FileLocation{};
  return FileLocation{path, addr - lo + off};
}

}  // namespace

std::optional<FileLocation> file_location(pid_t pid, std::uintptr_t addr) {
  std::ifstream maps(maps_path(pid));
  std::string line;
  while (std::getline(maps, line)) {
    auto loc = location_in_line(line, addr);
    if (!loc) continue;
    if (loc->path.empty()) return std::nullopt;
    return loc;
  }
  return std::nullopt;
}

int uprobe_pmu_type() noexcept {
  std::FILE* f = std::fopen("/sys/bus/event_source/devices/uprobe/type", "r");
  if (!f) return -1;
  int type = -1;
  if (std::fscanf(f, "%d", &type) != 1) type = -1;
  std::fclose(f);
  return type;
}

int try_open_uprobe(const UprobeAttr& in, pid_t pid, int cpu, Event& out) noexcept {
  const int type = uprobe_pmu_type();
  if (type < 0) return -ENOENT;
  perf_event_attr pa;
  std::memset(&pa, 0, sizeof pa);
  pa.type = static_cast<std::uint32_t>(type);
  pa.size = sizeof pa;
  pa.config = 0;  // bit 0 (format "retprobe") clear: an entry probe at the offset
  pa.config1 = reinterpret_cast<std::uintptr_t>(in.kernel_path ? in.kernel_path : in.where.path.c_str());
  pa.config2 = in.where.offset;                                           // probe_offset
  pa.sample_period = in.sample_period;
  pa.wakeup_events = 1;
  pa.disabled = in.disabled;
  pa.inherit = in.inherit;
  pa.inherit_thread = in.inherit_thread;
  pa.exclude_kernel = 1;
  pa.exclude_hv = 1;
  pa.remove_on_exec = in.remove_on_exec;
  pa.sigtrap = in.sigtrap;
  pa.sig_data = in.sig_data;
  const long fd = ::syscall(SYS_perf_event_open, &pa, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return -errno;
  BreakpointAttr identity;
  identity.addr = in.addr;
  identity.len = sizeof(long);
  identity.type = core::HwType::exec;
  identity.disabled = in.disabled;
  identity.inherit = in.inherit;
  identity.inherit_thread = in.inherit_thread;
  identity.sigtrap = in.sigtrap;
  identity.remove_on_exec = in.remove_on_exec;
  identity.sig_data = in.sig_data;
  identity.sample_period = in.sample_period;
  out = Event::adopt(static_cast<int>(fd), identity);
  return 0;
}

Event open_uprobe(const UprobeAttr& attr, pid_t pid, int cpu) {
  Event ev;
  const int rc = try_open_uprobe(attr, pid, cpu, ev);
  if (rc == 0) return ev;
  std::ostringstream where;
  where << attr.where.path << "+0x" << std::hex << attr.where.offset;
  switch (-rc) {
    case ENOENT:
      throw Error(Errc::unsupported,
                  "this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe): "
                  "execute breakpoints beyond the debug registers need CONFIG_UPROBE_EVENTS", ENOENT);
    case EACCES:
    case EPERM:
      throw Error(Errc::permission,
                  "an execute breakpoint through a uprobe (" + where.str() +
                  ") needs CAP_PERFMON or root; run as root, or use hwbp run/attach, which fall "
                  "back to int3 under ptrace", -rc);
    case ESRCH:
      throw Error(Errc::no_such_thread, "thread " + std::to_string(pid) + " does not exist", ESRCH);
    case kUprobeRefusesInstruction:
      throw Error(Errc::unsupported,
                  "the kernel's uprobes cannot probe the instruction at " + where.str() +
                      " (they refuse lock and segment-override prefixes and a few opcodes); "
                      "hwbp run/attach place an int3 there instead, or choose another instruction",
                  -rc);
    default:
      throw Error(Errc::invalid_request, "the kernel refused a uprobe at " + where.str() + ": " +
                                             std::strerror(-rc), -rc);
  }
}

}  // namespace hwbp::perf

namespace hwbp::perf {
namespace {

// One thread's event; false when the thread exited meanwhile (ESRCH).
bool open_uprobe_one(const UprobeAttr& attr, pid_t tid, ThreadEvents& out) {
  Event ev;
  const int rc = try_open_uprobe(attr, tid, -1, ev);
  if (rc == -ESRCH) return false;
  if (rc < 0) (void)open_uprobe(attr, tid);  // throws the explained error
  out.events.push_back(std::move(ev));
  out.tids.push_back(tid);
  return true;
}

}  // namespace

ThreadEvents open_uprobe_on_process(const UprobeAttr& base, pid_t pid) {
  if (pid != 0 && pid != ::getpid())
    throw Error(Errc::invalid_request,
                "an inherited uprobe can only be opened on this process: the kernel reads its path "
                "from the cloning thread's memory at each thread creation (open it per thread)");
  UprobeAttr attr = base;
  attr.inherit = true;
  attr.inherit_thread = true;  // new threads, not fork children (Linux 5.13, as sigtrap itself)
  ThreadEvents out;
  auto path = std::make_shared<const std::string>(base.where.path);
  attr.kernel_path = path->c_str();
  out.kernel_reads = std::move(path);  // freed after the events are closed
  for_each_thread_until_stable(pid, [&](pid_t tid) { return open_uprobe_one(attr, tid, out); });
  return out;
}

ThreadEvents open_uprobe_on_thread(const UprobeAttr& base, pid_t tid) {
  UprobeAttr attr = base;
  attr.inherit = attr.inherit_thread = false;
  ThreadEvents out;
  if (!open_uprobe_one(attr, tid, out))
    throw Error(Errc::no_such_thread,
                "thread " + std::to_string(tid) + " does not exist (it exited?); watch an existing thread",
                ESRCH);
  return out;
}

bool uprobes_available() {
  static const bool available = [] {
    auto loc = file_location(0, reinterpret_cast<std::uintptr_t>(&uprobe_pmu_type));
    if (!loc) return false;
    UprobeAttr a;
    a.where = *loc;
    a.addr = reinterpret_cast<std::uintptr_t>(&uprobe_pmu_type);
    a.disabled = true;
    a.sample_period = 0;
    Event ev;
    return try_open_uprobe(a, 0, -1, ev) == 0;
  }();
  return available;
}

}  // namespace hwbp::perf
