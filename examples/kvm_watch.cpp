// A tiny VMM whose guest counts in memory, debugged with hwbp::kvm: every change of the guest's
// counter is reported with its old and new value and the instruction after the store, and a
// breakpoint stops at each turn of the guest's loop. The write watch uses a debug register where
// the KVM backend reports data hits, write trapping (a read-only memslot) where it does not.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstring>
#include <hwbp/kvm.hpp>

int main() {
  // ---- the VMM as it is: one vCPU in real mode, 64 KiB of RAM, 16-bit code at 0x1000 ----
  const int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) return std::puts("kvm_watch: no usable /dev/kvm on this machine"), 0;
  const int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  auto* ram = static_cast<unsigned char*>(
      mmap(nullptr, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  kvm_userspace_memory_region slot{0, 0, 0, 0x10000, reinterpret_cast<__u64>(ram)};
  ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot);
  // mov cx, 5 / loop: inc word [0x2000] / dec cx / jnz loop / out 0xf4, al
  const unsigned char code[] = {0xb9, 0x05, 0x00, 0xff, 0x06, 0x00, 0x20, 0x49, 0x75, 0xf9, 0xe6, 0xf4};
  std::memcpy(ram + 0x1000, code, sizeof code);
  const int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  auto* run = static_cast<kvm_run*>(
      mmap(nullptr, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0));
  kvm_sregs sregs;
  ioctl(vcpu, KVM_GET_SREGS, &sregs);
  sregs.cs.base = sregs.cs.selector = 0;
  ioctl(vcpu, KVM_SET_SREGS, &sregs);
  kvm_regs regs{};
  regs.rip = 0x1000;
  regs.rflags = 2;
  ioctl(vcpu, KVM_SET_REGS, &regs);

  // ---- the integration: hand over the fds and the RAM, pass every exit through the debugger ----
  try {
    hwbp::kvm::GuestDebugger dbg({vm, {vcpu}, {{0, 0, 0x10000, ram}}});
    dbg.add({.addr = 0x2000, .len = 2, .access = hwbp::Access::modify});
    dbg.add({.addr = 0x1003, .len = 1, .access = hwbp::Access::exec});
    unsigned changes = 0, stops = 0;
    for (;;) {
      dbg.prepare_run(0);
      ioctl(vcpu, KVM_RUN, 0);
      const hwbp::kvm::ExitResult result = dbg.handle_exit(0);
      for (const hwbp::kvm::Event& e : result.events) {
        if (e.kind == hwbp::kvm::EventKind::breakpoint) {
          std::printf("breakpoint at 0x%llx\n", static_cast<unsigned long long>(e.pc));
          ++stops;
        } else if (e.kind == hwbp::kvm::EventKind::data) {
          std::printf("counter %u -> %u (%s, instruction before 0x%llx)\n", e.old_bytes[0], e.new_bytes[0],
                      hwbp::kvm::to_string(e.engine), static_cast<unsigned long long>(e.pc));
          ++changes;
        }
      }
      if (result.consumed) continue;
      if (run->exit_reason == KVM_EXIT_IO) break;  // the guest's own exit: it is done
      std::printf("kvm_watch: unexpected exit %u\n", run->exit_reason);
      return 1;
    }
    std::printf("%u changes, %u breakpoint stops\n", changes, stops);
    return changes == 5 && stops == 5 ? 0 : 1;
  } catch (const hwbp::Error& e) {
    std::printf("kvm_watch: %s\n", e.what());
    return 1;
  }
}
