#include <dirent.h>
#include <linux/kvm.h>
#include <sys/syscall.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "kvm/debugger_state.hpp"

namespace hwbp::kvm {

bool vcpu_in_kvm_run(int fd) {
  DIR* dir = ::opendir("/proc/self/task");
  if (!dir) return false;
  bool found = false;
  // Each line: the syscall number, then its arguments in hex (fs/proc/base.c, proc_pid_syscall).
  char expected[64];
  std::snprintf(expected, sizeof expected, "%d 0x%x 0x%lx ", static_cast<int>(SYS_ioctl), fd,
                static_cast<unsigned long>(KVM_RUN));
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(std::string("/proc/self/task/") + e->d_name + "/syscall");
    std::string line;
    if (std::getline(in, line) && line.rfind(expected, 0) == 0) {
      found = true;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

}  // namespace hwbp::kvm
