// Tests that need every debug-register slot of a thread (four watches fit and a fifth does not,
// the accountant's differential runs) get other answers while another process holds a
// breakpoint: a CPU-bound one (`perf record -e mem:ADDR -a`) takes a slot from every thread on
// the machine (kernel/events/hw_breakpoint.c, toggle_bp_slot: CPU-pinned and task-bound
// breakpoints share each CPU's budget). Such a test skips, naming the processes that can hold
// one: those with perf event file descriptors open (a debugger's ptrace breakpoints are its
// tracees' own and do not take slots of ours).
#pragma once

#include <dirent.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace hwbp::test {

// "pid 1234 (perf), pid 99 (gdb)": other processes with an open perf event; "" if none seen.
inline std::string perf_event_holders() {
  std::string out;
  DIR* proc = ::opendir("/proc");
  if (!proc) return out;
  const std::string self = std::to_string(::getpid());
  while (const dirent* p = ::readdir(proc)) {
    const std::string pid = p->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid == self) continue;
    const std::string fd_dir = "/proc/" + pid + "/fd";
    DIR* fds = ::opendir(fd_dir.c_str());
    if (!fds) continue;
    bool holds = false;
    while (const dirent* f = ::readdir(fds)) {
      char target[64] = {};
      const std::string link = fd_dir + "/" + f->d_name;
      if (::readlink(link.c_str(), target, sizeof target - 1) > 0 &&
          std::string(target) == "anon_inode:[perf_event]") {
        holds = true;
        break;
      }
    }
    ::closedir(fds);
    if (!holds) continue;
    std::string comm;
    std::getline(std::ifstream("/proc/" + pid + "/comm"), comm);
    out += (out.empty() ? "" : ", ") + ("pid " + pid + " (" + comm + ")");
  }
  ::closedir(proc);
  return out;
}

// How many breakpoints the calling thread can take now, trying up to `want` + 1.
inline unsigned breakpoints_available(unsigned want) {
  alignas(64) static volatile std::uint64_t probe[8];
  std::vector<int> fds;
  for (unsigned i = 0; i <= want && i < 8; ++i) {
    perf_event_attr attr{};
    attr.type = PERF_TYPE_BREAKPOINT;
    attr.size = sizeof attr;
    attr.bp_type = HW_BREAKPOINT_W;
    attr.bp_addr = reinterpret_cast<std::uintptr_t>(&probe[i]);
    attr.bp_len = 8;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    attr.disabled = 1;
    const int fd = static_cast<int>(::syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) break;
    fds.push_back(fd);
  }
  for (int fd : fds) ::close(fd);
  return static_cast<unsigned>(fds.size());
}

// Why this thread cannot have all `slots` breakpoints now ("" when it can).
inline std::string slots_taken_elsewhere(unsigned slots) {
  const unsigned got = breakpoints_available(slots);
  if (got >= slots) return "";
  const std::string holders = perf_event_holders();
  return "a fresh thread gets only " + std::to_string(got) + " of its " + std::to_string(slots) +
         " debug-register slots: another process holds a breakpoint (" +
         (holders.empty() ? std::string("none visible here: another container or user?")
                          : "perf events open in " + holders) +
         ")";
}

}  // namespace hwbp::test

// First statement of a test that needs every one of the thread's `slots` slots.
#define HWBP_REQUIRE_ALL_SLOTS(slots)                                              \
  do {                                                                            \
    if (std::string why_ = ::hwbp::test::slots_taken_elsewhere(slots); !why_.empty()) \
      GTEST_SKIP() << why_;                                                       \
  } while (0)
