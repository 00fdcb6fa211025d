#include "kvm/probe_guest.hpp"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kvm/kvm_fd.hpp"

namespace hwbp::kvm {

namespace {

constexpr std::uint64_t kRamSize = 0x10000;
constexpr std::uint64_t kCode = 0x1000;
constexpr std::uint64_t kData = 0x2000;
constexpr std::uint64_t kReadOnly = 0x10000;  // one read-only page right after RAM
constexpr std::uint64_t kHaltStub = 0x500;    // every real-mode vector points at a hlt

std::string exit_name(const kvm_run& run) {
  switch (run.exit_reason) {
    case KVM_EXIT_HLT:
      return "exit HLT (the guest handled it itself or nothing happened)";
    case KVM_EXIT_DEBUG:
      return "exit DEBUG (exception " + std::to_string(run.debug.arch.exception) + ")";
    case KVM_EXIT_MMIO:
      return "exit MMIO";
    case KVM_EXIT_INTERNAL_ERROR:
      return "exit INTERNAL_ERROR (suberror " + std::to_string(run.internal.suberror) +
             (run.internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? ": emulation failure)" : ")");
    case KVM_EXIT_SHUTDOWN:
      return "exit SHUTDOWN";
    case KVM_EXIT_FAIL_ENTRY:
      return "exit FAIL_ENTRY";
    default:
      return "exit " + std::to_string(run.exit_reason);
  }
}

class Mapping {
 public:
  Mapping(std::size_t size, int fd = -1) : size_(size) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, fd < 0 ? MAP_SHARED | MAP_ANONYMOUS : MAP_SHARED,
                     fd, 0);
    if (p == MAP_FAILED)
      throw Error(Errc::system, std::string("probe guest: mmap failed: ") + std::strerror(errno), errno);
    ptr_ = static_cast<std::uint8_t*>(p);
  }
  ~Mapping() { ::munmap(ptr_, size_); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  std::uint8_t* get() const { return ptr_; }

 private:
  std::uint8_t* ptr_ = nullptr;
  std::size_t size_;
};

class ProbeVm {
 public:
  ProbeVm(int kvm_fd, bool readonly_memory)
      : vm_(checked_ioctl(kvm_fd, KVM_CREATE_VM, nullptr, "probe guest: KVM_CREATE_VM")),
        ram_(kRamSize),
        rom_(0x1000) {
    kvm_userspace_memory_region ram{0, 0, 0, kRamSize, reinterpret_cast<std::uint64_t>(ram_.get())};
    checked_ioctl(vm_.get(), KVM_SET_USER_MEMORY_REGION, &ram, "probe guest: KVM_SET_USER_MEMORY_REGION");
    if (readonly_memory) {
      kvm_userspace_memory_region ro{1, KVM_MEM_READONLY, kReadOnly, 0x1000,
                                     reinterpret_cast<std::uint64_t>(rom_.get())};
      checked_ioctl(vm_.get(), KVM_SET_USER_MEMORY_REGION, &ro, "probe guest: read-only memslot");
    }
    vcpu_ = OwnedFd(checked_ioctl(vm_.get(), KVM_CREATE_VCPU, nullptr, "probe guest: KVM_CREATE_VCPU"));
    const int size =
        checked_ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, nullptr, "probe guest: KVM_GET_VCPU_MMAP_SIZE");
    run_map_ = std::make_unique<Mapping>(static_cast<std::size_t>(size), vcpu_.get());
    // A debug event the backend does not report becomes a guest exception: every vector leads
    // to a hlt, so the run ends with a HLT exit instead of wandering through zeroed memory.
    ram_.get()[kHaltStub] = 0xf4;
    for (int v = 0; v < 256; ++v) std::memcpy(ram_.get() + 4 * v, &kHaltStub, 2);
  }

  kvm_run& run_state() const { return *reinterpret_cast<kvm_run*>(run_map_->get()); }
  std::uint8_t* ram() const { return ram_.get(); }

  // Loads `code` at kCode, resets the registers, applies `debug`, runs once.
  const kvm_run& run(const std::vector<std::uint8_t>& code, const kvm_guest_debug& debug) {
    std::memcpy(ram_.get() + kCode, code.data(), code.size());
    kvm_sregs sregs{};
    checked_ioctl(vcpu_.get(), KVM_GET_SREGS, &sregs, "probe guest: KVM_GET_SREGS");
    for (kvm_segment* s : {&sregs.cs, &sregs.ds, &sregs.es, &sregs.ss}) {
      s->base = 0;
      s->selector = 0;
    }
    checked_ioctl(vcpu_.get(), KVM_SET_SREGS, &sregs, "probe guest: KVM_SET_SREGS");
    kvm_regs regs{};
    regs.rip = kCode;
    regs.rflags = 0x2;
    checked_ioctl(vcpu_.get(), KVM_SET_REGS, &regs, "probe guest: KVM_SET_REGS");
    checked_ioctl(vcpu_.get(), KVM_SET_GUEST_DEBUG, &debug, "probe guest: KVM_SET_GUEST_DEBUG");
    if (::ioctl(vcpu_.get(), KVM_RUN, nullptr) < 0) throw ioctl_error("probe guest: KVM_RUN", errno);
    return run_state();
  }
  void run_again() {
    if (::ioctl(vcpu_.get(), KVM_RUN, nullptr) < 0) throw ioctl_error("probe guest: KVM_RUN", errno);
  }

 private:
  OwnedFd vm_;
  Mapping ram_;
  Mapping rom_;
  OwnedFd vcpu_;
  std::unique_ptr<Mapping> run_map_;
};

kvm_guest_debug debug_state(std::uint32_t control, std::uint64_t dr0 = 0, std::uint64_t dr7 = 0x400) {
  kvm_guest_debug d{};
  d.control = control;
  d.arch.debugreg[0] = dr0;
  d.arch.debugreg[7] = dr7;
  return d;
}

}  // namespace

ProbeGuestResults run_probe_guest(int kvm_fd, bool readonly_memory) {
  ProbeGuestResults r;
  try {
    ProbeVm vm(kvm_fd, readonly_memory);
    {
      kvm_guest_debug off{};
      (void)vm.run({0xf4}, off);  // hlt: proves the ioctl and the guest run
      r.guest_debug_ioctl = true;
      if (vm.run_state().exit_reason != KVM_EXIT_HLT) {
        r.error = "a one-instruction guest (hlt) ended in " + exit_name(vm.run_state());
        return r;
      }
    }
    constexpr std::uint32_t kHw = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
    // mov byte [0x2000], 0x42 ; hlt — with DR0 a 1-byte write watch on 0x2000 (RW 01, LEN 00, G0).
    {
      const kvm_run& e = vm.run({0xc6, 0x06, kData & 0xff, kData >> 8, 0x42, 0xf4},
                                debug_state(kHw, kData, 0x400 | 0x2 | (0x1 << 16)));
      r.data_hits = e.exit_reason == KVM_EXIT_DEBUG && e.debug.arch.exception == 1 && (e.debug.arch.dr6 & 1);
      r.data_hits_seen = exit_name(e);
    }
    // int3 ; hlt — with USE_SW_BP.
    {
      const kvm_run& e = vm.run({0xcc, 0xf4}, debug_state(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP));
      r.int3_exits = e.exit_reason == KVM_EXIT_DEBUG && e.debug.arch.exception == 3;
      r.int3_seen = exit_name(e);
    }
    // mov eax, dr0 ; hlt — with DR7.GD.
    {
      const kvm_run& e = vm.run({0x0f, 0x21, 0xc0, 0xf4}, debug_state(kHw, 0, 0x400 | (1u << 13)));
      r.general_detect_exits = e.exit_reason == KVM_EXIT_DEBUG && (e.debug.arch.dr6 & (1u << 13));
      r.general_detect_seen = exit_name(e);
    }
    if (readonly_memory) {
      // mov ax, 0x1000 ; mov ds, ax ; mov byte [4], 0x5a ; hlt — a store to 0x10004, read-only.
      const kvm_run& e =
          vm.run({0xb8, 0x00, 0x10, 0x8e, 0xd8, 0xc6, 0x06, 0x04, 0x00, 0x5a, 0xf4}, kvm_guest_debug{});
      r.trapped_stores = e.exit_reason == KVM_EXIT_MMIO && e.mmio.is_write &&
                         e.mmio.phys_addr == kReadOnly + 4 && e.mmio.len == 1 && e.mmio.data[0] == 0x5a;
      r.trapped_stores_seen =
          e.exit_reason == KVM_EXIT_MMIO
              ? "exit MMIO at 0x" +
                    [&] {
                      char b[32];
                      std::snprintf(b, sizeof b, "%llx len %u",
                                    static_cast<unsigned long long>(e.mmio.phys_addr), e.mmio.len);
                      return std::string(b);
                    }()
              : exit_name(e);
      if (e.exit_reason == KVM_EXIT_MMIO) vm.run_again();  // completes the store
    } else {
      r.trapped_stores_seen = "no read-only memslots";
    }
    r.ran = true;
  } catch (const Error& e) {
    r.error = e.what();
  }
  return r;
}

}  // namespace hwbp::kvm
