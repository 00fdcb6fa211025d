// The virtual machine of `hwbp vm`: one KVM VM, its guest RAM (one memslot from physical 0),
// its vCPUs, and the boot state a Multiboot v1 or 64-bit ELF kernel expects. What the VM does
// with its exits is run_loop.hpp's business; this file owns the kernel resources (RAII) and the
// machine state at entry.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hwbp/kvm.hpp"
#include "kvm/kvm_fd.hpp"
#include "vmm/kernel_image.hpp"

namespace hwbp::vmm {

struct MachineConfig {
  std::uint64_t ram_bytes = 128ull << 20;
  std::string cmdline;  // Multiboot: the kernel path and this, as QEMU's -append
};

// Guest RAM: an anonymous shared mapping, the host side of memslot 0.
class GuestMemory {
 public:
  explicit GuestMemory(std::uint64_t bytes);
  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  std::uint64_t size() const noexcept { return size_; }
  std::uint8_t* host() const noexcept { return base_; }
  // [gpa, gpa + len) as host bytes; throws hwbp::Error(invalid_request) when outside RAM.
  std::span<std::uint8_t> at(std::uint64_t gpa, std::uint64_t len) const;
  bool contains(std::uint64_t gpa, std::uint64_t len) const noexcept {
    return gpa <= size_ && len <= size_ - gpa;
  }

 private:
  std::uint8_t* base_ = nullptr;
  std::uint64_t size_ = 0;
};

class Machine {
 public:
  // Opens /dev/kvm (a one-line error when absent or not permitted), creates the VM, its RAM and
  // one vCPU, loads `kernel` and sets the vCPU to the kernel's entry state.
  Machine(const KernelImage& kernel, const MachineConfig& config);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  GuestMemory& memory() noexcept { return memory_; }
  unsigned vcpu_count() const noexcept { return static_cast<unsigned>(vcpus_.size()); }
  int vcpu_fd(unsigned vcpu) const { return vcpus_.at(vcpu).fd.get(); }
  kvm_run* run_state(unsigned vcpu) const { return vcpus_.at(vcpu).run; }
  // What hwbp::kvm::GuestDebugger is given.
  hwbp::kvm::Vm handles() const;
  // Where the Multiboot information went (0 for a 64-bit kernel).
  std::uint64_t multiboot_info_address() const noexcept { return mbi_address_; }

  kvm_regs registers(unsigned vcpu) const;
  kvm_sregs special_registers(unsigned vcpu) const;

 private:
  struct Vcpu {
    kvm::OwnedFd fd;
    kvm_run* run = nullptr;
  };
  void create_vcpu(unsigned index);
  void load_segments(const KernelImage& kernel);
  void enter_protected_mode(const KernelImage& kernel, const MachineConfig& config);
  void enter_long_mode(const KernelImage& kernel);

  kvm::OwnedFd kvm_, vm_;
  GuestMemory memory_;
  std::size_t run_size_ = 0;
  std::vector<Vcpu> vcpus_;
  std::uint64_t mbi_address_ = 0;
};

// Open /dev/kvm read-write, or a one-line error saying why not and what to do.
kvm::OwnedFd open_dev_kvm();

}  // namespace hwbp::vmm
