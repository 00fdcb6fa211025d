// hwbp_vm_raw_watch: the floor under `hwbp vm --count --watch SYM:w` in bench/peers/vm_vs_qemu.sh.
// It boots the same kernel on the same machine (src/vmm's Machine: same RAM, segments and entry
// state), arms the same mechanism by hand, and runs a bare KVM_RUN loop that only counts the
// exits the mechanism produces — no hwbp::kvm, no decoding, no old/new values, no reporting:
//
//   debug-register  KVM_SET_GUEST_DEBUG with DR0 = ADDR, a write watch of LEN bytes; each
//                   KVM_EXIT_DEBUG with DR6.B0 is one hit (a data breakpoint is a trap: the store
//                   is done, KVM_RUN simply goes on)
//   write-trap      the RAM memslot split so the page of ADDR is a read-only memslot; each store
//                   to that page is a KVM_EXIT_MMIO whose bytes the loop copies into guest RAM
//                   (what a write-trap watch must do at the least); every such exit is counted
//
// Ports are served as `hwbp vm` serves them at the least (reads 0xFF, so the UART's transmitter
// looks empty; a write to isa-debug-exit ends the run with QEMU's status rule).
// Usage: hwbp_vm_raw_watch debug-register|write-trap KERNEL ADDR LEN [CMDLINE...]
// Prints "exits N" and ends with the guest's exit status.
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "hwbp/error.hpp"
#include "vmm/debug_exit.hpp"
#include "vmm/machine.hpp"

namespace {

constexpr std::uint64_t kPage = 4096;

// DR7 for one write watch in slot 0 (Intel SDM vol. 3B, 18.2.4): L0, R/W0 = 01 (writes),
// LEN0 = 00/01/11/10 for 1/2/4/8 bytes; bit 10 reads as 1.
std::uint64_t dr7_write_watch(std::uint64_t len) {
  const std::uint64_t len_bits = len == 1 ? 0 : len == 2 ? 1 : len == 8 ? 2 : 3;
  return 0x400 | 0x1 | (0x1ull << 16) | (len_bits << 18);
}

void arm_debug_register(const hwbp::vmm::Machine& machine, std::uint64_t addr, std::uint64_t len) {
  kvm_guest_debug d{};
  d.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
  d.arch.debugreg[0] = addr;
  d.arch.debugreg[7] = dr7_write_watch(len);
  if (::ioctl(machine.vcpu_fd(0), KVM_SET_GUEST_DEBUG, &d) < 0)
    throw hwbp::Error(hwbp::Errc::system, std::string("KVM_SET_GUEST_DEBUG: ") + std::strerror(errno), errno);
}

void set_slot(int vm_fd, std::uint32_t slot, std::uint32_t flags, std::uint64_t gpa, std::uint64_t size,
              std::uint8_t* host) {
  kvm_userspace_memory_region m{slot, flags, gpa, size, reinterpret_cast<std::uint64_t>(host)};
  if (::ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &m) < 0)
    throw hwbp::Error(hwbp::Errc::system, std::string("KVM_SET_USER_MEMORY_REGION: ") + std::strerror(errno), errno);
}

// Slot 0 (all RAM) becomes [0, page) + the page read-only + [page + 4 KiB, end): the layout a
// write-trap watch on one page needs (KVM has no per-page protection for userspace).
void trap_page(hwbp::vmm::Machine& machine, std::uint64_t page) {
  const int vm_fd = machine.handles().vm_fd;
  std::uint8_t* ram = machine.memory().host();
  const std::uint64_t size = machine.memory().size();
  set_slot(vm_fd, 0, 0, 0, 0, ram);  // size 0 deletes the slot
  if (page > 0) set_slot(vm_fd, 0, 0, 0, page, ram);
  set_slot(vm_fd, 1, KVM_MEM_READONLY, page, kPage, ram + page);
  if (page + kPage < size) set_slot(vm_fd, 2, 0, page + kPage, size - page - kPage, ram + page + kPage);
}

// Serves an I/O exit; true when the guest wrote the debug-exit port (status in *status).
bool serve_io(kvm_run& run, int* status) {
  auto* data = reinterpret_cast<std::uint8_t*>(&run) + run.io.data_offset;
  if (run.io.direction == KVM_EXIT_IO_IN) {
    std::memset(data, 0xff, std::size_t{run.io.size} * run.io.count);
    return false;
  }
  if (!hwbp::vmm::is_debug_exit_port(run.io.port)) return false;
  std::uint32_t value = 0;
  std::memcpy(&value, data, run.io.size);
  *status = hwbp::vmm::debug_exit_status(value);
  return true;
}

int run(const std::string& mechanism, const std::string& kernel_path, std::uint64_t addr, std::uint64_t len,
        const std::string& cmdline) {
  const hwbp::vmm::KernelImage kernel = hwbp::vmm::read_kernel(kernel_path);
  hwbp::vmm::Machine machine(kernel, {64ull << 20, cmdline});
  const bool trap = mechanism == "write-trap";
  if (trap) trap_page(machine, addr & ~(kPage - 1));
  else arm_debug_register(machine, addr, len);
  kvm_run& state = *machine.run_state(0);
  std::uint64_t exits = 0;
  int status = 0;
  for (;;) {
    if (::ioctl(machine.vcpu_fd(0), KVM_RUN, 0) < 0) {
      if (errno == EINTR) continue;
      throw hwbp::Error(hwbp::Errc::system, std::string("KVM_RUN: ") + std::strerror(errno), errno);
    }
    switch (state.exit_reason) {
      case KVM_EXIT_DEBUG:
        if (!trap && (state.debug.arch.dr6 & 1)) ++exits;
        break;
      case KVM_EXIT_MMIO:
        if (state.mmio.is_write && trap) {
          machine.memory().at(state.mmio.phys_addr, state.mmio.len);  // throws outside RAM
          std::memcpy(machine.memory().host() + state.mmio.phys_addr, state.mmio.data, state.mmio.len);
          ++exits;
        } else if (!state.mmio.is_write) {
          std::memset(state.mmio.data, 0xff, sizeof state.mmio.data);
        }
        break;
      case KVM_EXIT_IO:
        if (serve_io(state, &status)) {
          std::printf("exits %llu\n", static_cast<unsigned long long>(exits));
          return status;
        }
        break;
      case KVM_EXIT_INTR: break;
      default:
        throw hwbp::Error(hwbp::Errc::system, "unexpected KVM exit reason " + std::to_string(state.exit_reason));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mechanism = argc > 1 ? argv[1] : "";
  if (argc < 5 || (mechanism != "debug-register" && mechanism != "write-trap")) {
    std::fprintf(stderr, "usage: %s debug-register|write-trap KERNEL ADDR LEN [CMDLINE...]\n", argv[0]);
    return 2;
  }
  const std::uint64_t addr = std::strtoull(argv[3], nullptr, 0), len = std::strtoull(argv[4], nullptr, 0);
  if (len != 1 && len != 2 && len != 4 && len != 8) {
    std::fprintf(stderr, "%s: LEN %s: a debug register watches 1, 2, 4 or 8 bytes\n", argv[0], argv[4]);
    return 2;
  }
  std::string cmdline;
  for (int i = 5; i < argc; ++i) cmdline += (cmdline.empty() ? "" : " ") + std::string(argv[i]);
  try {
    return run(mechanism, argv[2], addr, len, cmdline);
  } catch (const hwbp::Error& e) {
    std::fprintf(stderr, "hwbp_vm_raw_watch: %s\n", e.what());
    return 1;
  }
}
