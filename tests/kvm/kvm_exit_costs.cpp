// hwbp_kvm_exit_costs: what one KVM_RUN round trip costs per kind of exit, on this machine's
// /dev/kvm (make bench-kvm runs it natively where there is one, and in the test VM). These are
// the raw baselines the KVM library's own costs will be compared with; compare ratios measured
// in one environment, never absolute times across environments (test-vm.md: nested exits cost
// 4-6x kvm_pvm's, guest code runs ~500x faster).
//
// Each case is a real-mode guest loop that exits on every iteration; the median of N runs.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

constexpr std::uint64_t kMemSize = 0x8000, kCode = 0x1000, kData = 0x2000;
constexpr std::uint64_t kReadOnlyBase = 0x8000;  // a second, read-only slot: stores exit as MMIO
constexpr int kIterations = 2000;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "hwbp_kvm_exit_costs: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

int ioctl_or_die(int fd, unsigned long request, const void* arg, const char* what) {
  const int rc = ::ioctl(fd, request, arg);
  if (rc < 0) die(what);
  return rc;
}

struct Guest {
  int kvm = -1, vm = -1, vcpu = -1;
  std::uint8_t* mem = nullptr;
  std::uint8_t* ro = nullptr;
  kvm_run* run = nullptr;

  explicit Guest(const std::vector<std::uint8_t>& code) {
    kvm = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("open /dev/kvm");
    vm = ioctl_or_die(kvm, KVM_CREATE_VM, nullptr, "KVM_CREATE_VM");
    mem = map(kMemSize);
    ro = map(0x1000);
    add_slot(0, 0, kMemSize, mem, 0);
    add_slot(1, kReadOnlyBase, 0x1000, ro, KVM_MEM_READONLY);
    vcpu = ioctl_or_die(vm, KVM_CREATE_VCPU, nullptr, "KVM_CREATE_VCPU");
    const int size = ioctl_or_die(kvm, KVM_GET_VCPU_MMAP_SIZE, nullptr, "KVM_GET_VCPU_MMAP_SIZE");
    run = static_cast<kvm_run*>(::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0));
    if (run == MAP_FAILED) die("mmap kvm_run");
    std::memcpy(mem + kCode, code.data(), code.size());
    kvm_sregs sregs{};
    ioctl_or_die(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    ioctl_or_die(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
    kvm_regs regs{};
    regs.rip = kCode;
    regs.rflags = 0x2;
    ioctl_or_die(vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");
  }
  static std::uint8_t* map(std::size_t n) {
    void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap guest memory");
    return static_cast<std::uint8_t*>(p);
  }
  void add_slot(unsigned slot, std::uint64_t gpa, std::uint64_t size, void* host, unsigned flags) {
    kvm_userspace_memory_region r{slot, flags, gpa, size, reinterpret_cast<std::uint64_t>(host)};
    ioctl_or_die(vm, KVM_SET_USER_MEMORY_REGION, &r, "KVM_SET_USER_MEMORY_REGION");
  }
  void debug(std::uint32_t control, std::uint64_t dr0 = 0, std::uint64_t dr7 = 0) {
    kvm_guest_debug d{};
    d.control = control;
    d.arch.debugreg[0] = dr0;
    d.arch.debugreg[7] = dr7;
    ioctl_or_die(vcpu, KVM_SET_GUEST_DEBUG, &d, "KVM_SET_GUEST_DEBUG");
  }
  std::uint32_t enter() {
    ioctl_or_die(vcpu, KVM_RUN, nullptr, "KVM_RUN");
    return run->exit_reason;
  }
};

// Median microseconds of one KVM_RUN that must end in `expected`; `between` runs after each.
double median_us(Guest& g, std::uint32_t expected, const char* name,
                 const std::function<void()>& between = {}) {
  std::vector<double> us;
  for (int i = 0; i < kIterations; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint32_t reason = g.enter();
    const auto t1 = std::chrono::steady_clock::now();
    if (reason != expected) {
      std::fprintf(stderr, "hwbp_kvm_exit_costs: %s: exit reason %u, expected %u\n", name, reason, expected);
      std::exit(1);
    }
    if (between) between();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
  const double m = us[us.size() / 2];
  std::printf("exit %-28s %8.2f us (median of %d)\n", name, m, kIterations);
  return m;
}

bool backend_fires_data_watchpoints() {
  return ::access("/sys/module/kvm_pvm", F_OK) != 0;  // kvm-guest-debug.md 11
}

}  // namespace

int main() {
  constexpr std::uint64_t kDr7 = 0x400 | 0x2;  // G0
  // out dx, al ; jmp back
  Guest io({0xba, 0xf8, 0x03, 0xee, 0xeb, 0xfd});
  const double io_us = median_us(io, KVM_EXIT_IO, "port I/O (out)");

  // nop at the breakpoint: an exec breakpoint re-fires there on every run (fault, rip stays)
  Guest exec({0x90, 0xeb, 0xfd});
  exec.debug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP, kCode, kDr7);
  const double exec_us = median_us(exec, KVM_EXIT_DEBUG, "exec breakpoint, same pc");

  Guest step({0xeb, 0xfe});  // jmp $
  step.debug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP);
  const double step_us = median_us(step, KVM_EXIT_DEBUG, "single-step");

  // mov [0x8000], al ; jmp back: a store into the read-only slot
  Guest mmio({0xa2, 0x00, 0x80, 0xeb, 0xfb});
  const double mmio_us = median_us(mmio, KVM_EXIT_MMIO, "store into a read-only slot");

  std::printf("ratio exec_breakpoint_exit/io_exit %.2f\n", exec_us / io_us);
  std::printf("ratio single_step_exit/io_exit %.2f\n", step_us / io_us);
  std::printf("ratio readonly_store_exit/io_exit %.2f\n", mmio_us / io_us);
  if (!backend_fires_data_watchpoints()) {
    std::printf("write watchpoint: not measured, kvm_pvm never fires guest data watchpoints\n");
    return 0;
  }
  // mov [0x2000], al ; jmp back: a write watch (RW=01, LEN=00) traps after every store
  Guest watch({0xa2, kData & 0xff, kData >> 8, 0xeb, 0xfb});
  watch.debug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP, kData, kDr7 | (1u << 16));
  const double watch_us = median_us(watch, KVM_EXIT_DEBUG, "write watchpoint");
  std::printf("ratio write_watch_exit/io_exit %.2f\n", watch_us / io_us);
  std::printf("ratio readonly_store_exit/write_watch_exit %.2f\n", mmio_us / watch_us);
  return 0;
}
