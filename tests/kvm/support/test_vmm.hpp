// The test VMM: a small VMM that runs real x86-64 guest code (tests/kvm/guest/guest.S) on
// /dev/kvm, with or without hwbp::kvm::GuestDebugger. It is what a real VMM is to the library:
// it owns the VM, the vCPUs and the guest RAM, handles its own exits (port I/O here), and passes
// every exit through the debugger when one is attached.
//
// Guest layout (guest-physical = guest-virtual below 4 MiB):
//   0x1000-0x6fff  page tables (4 KiB pages for 0-4 MiB, an alias window, a 2 MiB page)
//   0x7000 GDT, 0x8000 IDT (256 gates to guest.S's stubs), 0x9000-0xffff stacks (one per vCPU)
//   0x10000        guest.S's code (0x1f000: the page table of 3-4 GiB, for the local APIC)
//   0x200000-      data pages for the tests (kData, kData2, ...)
//   virtual 0x400000 + n*4096 -> physical 0x300000 + n*4096 (the alias window: virtual != physical)
//   virtual/physical 0x1000000: a second RAM region (memslot 1), mapped by one 2 MiB page
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <string>
#include <vector>

#include "hwbp/kvm.hpp"

extern "C" const char hwbp_guest_begin[];

namespace hwbp::test::kvm {

inline constexpr std::uint64_t kGuestCode = 0x10000;
inline constexpr std::uint64_t kData = 0x200000;  // data page 0 (identity mapped)
inline constexpr std::uint64_t kData2 = 0x201000;
inline constexpr std::uint64_t kData3 = 0x202000;
inline constexpr std::uint64_t kAliasVirtual = 0x400000;  // -> kAliasPhysical
inline constexpr std::uint64_t kAliasPhysical = 0x300000;
inline constexpr std::uint64_t kAliasPageTable = 0x6000;  // the PT of the alias window
inline constexpr std::uint64_t kRegion2 = 0x1000000;      // second RAM region, 2 MiB
inline constexpr std::uint64_t kRamSize = 0x400000;
inline constexpr std::uint64_t kRegion2Size = 0x200000;

inline constexpr std::uint16_t kPortReport = 0xe0, kPortFatal = 0xe1, kPortDone = 0xe2, kPortMark = 0xe3;

// The guest address of a label of guest.S (declared `extern "C" const char g_label[];`).
inline std::uint64_t guest_address(const char* label) {
  return kGuestCode + static_cast<std::uint64_t>(label - hwbp_guest_begin);
}

// What stopped a run the test cares about.
struct GuestStop {
  enum class Kind { events, done, report, mark, fatal, timeout, other } kind = Kind::other;
  // Kind::events: what the debugger reported at an exit of its own; with the other kinds, what
  // it reported at that VMM exit (a write-trap watch's mapping changed, say).
  std::vector<hwbp::kvm::Event> events;
  std::uint64_t vector = 0, rip = 0, dr6 = 0, error = 0;  // report / fatal: the guest's handler
  std::uint64_t rax = 0, rbx = 0;                         // mark
  std::uint32_t exit_reason = 0;                          // other
  std::string describe() const;
};

class TestVm {
 public:
  struct Options {
    unsigned vcpus = 1;
  };
  TestVm() : TestVm(Options{}) {}
  explicit TestVm(Options options);
  ~TestVm();
  TestVm(const TestVm&) = delete;
  TestVm& operator=(const TestVm&) = delete;

  // What the VMM hands to hwbp::kvm::GuestDebugger.
  hwbp::kvm::Vm handles() const;
  int vcpu_fd(unsigned vcpu) const { return vcpus_.at(vcpu).fd; }
  kvm_run* run_state(unsigned vcpu) const { return vcpus_.at(vcpu).run; }

  // Guest memory through the VMM's own mapping (guest-physical).
  std::uint8_t* host(std::uint64_t gpa) const;
  template <class T>
  T load(std::uint64_t gpa) const {
    T v;
    __builtin_memcpy(&v, host(gpa), sizeof v);
    return v;
  }
  template <class T>
  void store(std::uint64_t gpa, T v) const {
    __builtin_memcpy(host(gpa), &v, sizeof v);
  }
  // The alias window's PTE for virtual kAliasVirtual + n*4096.
  std::uint64_t alias_pte_address(unsigned n) const { return kAliasPageTable + 8 * n; }

  // Registers (KVM_GET/SET_REGS). With a debugger attached use its set_registers instead, so
  // its step-over state sees the change.
  kvm_regs regs(unsigned vcpu) const;
  void set_regs(unsigned vcpu, const kvm_regs& regs) const;
  // Entry: rip, and the argument registers the scenarios read.
  void enter(unsigned vcpu, std::uint64_t rip, std::uint64_t rdi = 0, std::uint64_t rsi = 0,
             std::uint64_t rcx = 0, std::uint64_t rax = 0, std::uint64_t rbx = 0,
             std::uint64_t rdx = 0) const;
  kvm_debugregs debugregs(unsigned vcpu) const;

  // Runs vCPU `vcpu` until something the test cares about: debugger events, or the guest's own
  // port I/O. With `debugger`, every exit goes through it (prepare_run, KVM_RUN, handle_exit),
  // as a VMM integrates the library. Gives up after `seconds` (Kind::timeout).
  GuestStop run(unsigned vcpu, hwbp::kvm::GuestDebugger* debugger = nullptr, double seconds = 20);
  // Exits of each reason the last run() saw, consumed by the debugger or not.
  unsigned exits(std::uint32_t reason) const {
    return reason < exit_counts_.size() ? exit_counts_[reason] : 0;
  }
  void reset_exit_counts() { exit_counts_.assign(exit_counts_.size(), 0); }

 private:
  struct Vcpu {
    int fd = -1;
    kvm_run* run = nullptr;
  };
  void build_page_tables() const;
  void build_descriptor_tables() const;
  void setup_vcpu(unsigned index, int cpuid_fd);
  GuestStop guest_io(unsigned vcpu);

  int kvm_ = -1, vm_ = -1;
  std::size_t run_size_ = 0;
  std::uint8_t* ram_ = nullptr;
  std::uint8_t* ram2_ = nullptr;
  std::vector<Vcpu> vcpus_;
  std::vector<unsigned> exit_counts_ = std::vector<unsigned>(64, 0);
};

}  // namespace hwbp::test::kvm
