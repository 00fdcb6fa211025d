// Is a vCPU of this process running right now? Attaching reconfigures every vCPU, and an ioctl on
// a vCPU inside KVM_RUN waits for it (the vcpu mutex, virt/kvm/kvm_main.c) — maybe for ever.
// After attaching the library knows (prepare_run .. handle_exit); before, /proc says:
//  - a thread blocked in ioctl(fd, KVM_RUN) (a halted guest, an exit being served in the
//    kernel) shows it in /proc/self/task/TID/syscall (fs/proc/base.c, proc_pid_syscall);
//  - a thread executing guest code is "running" there, but its guest_time (field 43 of
//    /proc/self/task/TID/stat: time spent running a virtual CPU) grows.
#include <dirent.h>
#include <linux/kvm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kvm/debugger_state.hpp"

namespace hwbp::kvm {

namespace {

// PF_USER_WORKER (include/linux/sched.h): a kernel worker living in a user process, such as the
// vhost_task KVM starts at the first KVM_RUN for NX huge-page recovery (comm
// "kvm-nx-lpage-recovery", Linux 6.13, backported to 6.12). Its syscall file shows the KVM_RUN
// it was created from for ever: it is not a vCPU thread.
constexpr unsigned long kUserWorker = 0x00004000;

struct ThreadStat {
  char state = 0;
  unsigned long flags = 0;
  unsigned long long guest_time = 0;
};

bool read_stat(const std::string& tid, ThreadStat& out) {
  std::ifstream in("/proc/self/task/" + tid + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  const auto close = stat.rfind(')');  // comm may contain spaces and parentheses
  if (close == std::string::npos) return false;
  std::istringstream fields(stat.substr(close + 1));
  std::vector<std::string> f;
  for (std::string s; fields >> s;) f.push_back(s);
  // f[0] is field 3 (state); flags is field 9, guest_time field 43.
  if (f.size() < 41) return false;
  out.state = f[0][0];
  out.flags = std::stoul(f[6]);
  out.guest_time = std::stoull(f[40]);
  return true;
}

std::vector<std::string> other_threads() {
  std::vector<std::string> tids;
  const std::string self = std::to_string(::gettid());
  if (DIR* dir = ::opendir("/proc/self/task")) {
    while (const dirent* e = ::readdir(dir))
      if (e->d_name[0] != '.' && self != e->d_name) tids.emplace_back(e->d_name);
    ::closedir(dir);
  }
  return tids;
}

}  // namespace

bool vcpu_in_kvm_run(int fd) {
  char expected[64];
  std::snprintf(expected, sizeof expected, "%d 0x%x 0x%lx ", static_cast<int>(SYS_ioctl), fd,
                static_cast<unsigned long>(KVM_RUN));
  for (const std::string& tid : other_threads()) {
    std::ifstream in("/proc/self/task/" + tid + "/syscall");
    std::string line;
    ThreadStat st;
    if (std::getline(in, line) && line.rfind(expected, 0) == 0 && read_stat(tid, st) &&
        !(st.flags & kUserWorker))
      return true;
  }
  return false;
}

long thread_running_guest_code() {
  std::map<std::string, unsigned long long> candidates;
  for (const std::string& tid : other_threads()) {
    ThreadStat st;
    if (read_stat(tid, st) && st.state == 'R' && st.guest_time > 0 && !(st.flags & kUserWorker))
      candidates[tid] = st.guest_time;
  }
  if (candidates.empty()) return 0;
  // guest_time counts clock ticks (USER_HZ, 100 per second): wait a few.
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  for (const auto& [tid, before] : candidates) {
    ThreadStat st;
    if (read_stat(tid, st) && st.guest_time > before) return std::stol(tid);
  }
  return 0;
}

}  // namespace hwbp::kvm
