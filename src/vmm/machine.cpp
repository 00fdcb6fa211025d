#include "vmm/machine.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "vmm/multiboot_info.hpp"
#include "vmm/page_tables.hpp"

namespace hwbp::vmm {
namespace {

// Fixed guest-physical places of what the loader builds below the kernel (below 1 MiB, in
// memory the PC map marks available, where Multiboot kernels are never linked).
constexpr std::uint64_t kGdt = 0x500;
constexpr std::uint64_t kPageTables = 0x1000;  // 64-bit kernels: 6 pages (page_tables.hpp)

// GDT: null, 0x08 32-bit code, 0x10 data, 0x18 64-bit code (flat, DPL 0).
constexpr std::uint64_t kGdtEntries[] = {0, 0x00CF9A000000FFFFull, 0x00CF92000000FFFFull, 0x00AF9A000000FFFFull};
constexpr std::uint16_t kCode32 = 0x08, kData = 0x10, kCode64 = 0x18;

kvm_segment flat_segment(std::uint16_t selector, bool code, bool long_mode) {
  kvm_segment s{};
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = code ? 0xb : 0x3;  // execute/read accessed, read/write accessed
  s.present = 1;
  s.s = 1;
  s.g = 1;
  s.l = code && long_mode;
  s.db = !(code && long_mode);
  return s;
}

}  // namespace

kvm::OwnedFd open_dev_kvm() {
  const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd >= 0) return kvm::OwnedFd(fd);
  const int err = errno;
  if (err == ENOENT)
    throw Error(Errc::unsupported,
                "no /dev/kvm on this machine: load kvm_intel or kvm_amd (with virtualization enabled), or run "
                "hwbp vm inside a VM that has nested KVM (scripts/test-vm/vm.sh)",
                err);
  if (err == EACCES || err == EPERM)
    throw Error(Errc::permission, "/dev/kvm is not read-write for this user: add the user to group kvm or run as root",
                err);
  throw Error(Errc::system, fmt::format("cannot open /dev/kvm: {}", std::strerror(err)), err);
}

GuestMemory::GuestMemory(std::uint64_t bytes) : size_(bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    throw Error(Errc::system, fmt::format("cannot map {} MiB of guest RAM: {} (use a smaller -m)", bytes >> 20,
                                          std::strerror(errno)),
                errno);
  base_ = static_cast<std::uint8_t*>(p);
}

GuestMemory::~GuestMemory() { ::munmap(base_, size_); }

std::span<std::uint8_t> GuestMemory::at(std::uint64_t gpa, std::uint64_t len) const {
  if (!contains(gpa, len))
    throw Error(Errc::invalid_request, fmt::format("guest-physical [{:#x}, {:#x}) is outside the guest's {} MiB of RAM",
                                                   gpa, gpa + len, size_ >> 20));
  return {base_ + gpa, len};
}

Machine::Machine(const KernelImage& kernel, const MachineConfig& config)
    : kvm_(open_dev_kvm()), memory_(config.ram_bytes) {
  const int version = ::ioctl(kvm_.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION)
    throw Error(Errc::unsupported, fmt::format("/dev/kvm speaks API version {}, not {}", version, KVM_API_VERSION));
  vm_ = kvm::OwnedFd(kvm::checked_ioctl(kvm_.get(), KVM_CREATE_VM, nullptr, "KVM_CREATE_VM"));
  // VMX needs a TSS area for real-mode emulation on old CPUs; harmless elsewhere.
  ::ioctl(vm_.get(), KVM_SET_TSS_ADDR, 0xfffbd000ul);
  kvm_userspace_memory_region slot{0, 0, 0, memory_.size(), reinterpret_cast<std::uint64_t>(memory_.host())};
  kvm::checked_ioctl(vm_.get(), KVM_SET_USER_MEMORY_REGION, &slot, "KVM_SET_USER_MEMORY_REGION");
  run_size_ = static_cast<std::size_t>(
      kvm::checked_ioctl(kvm_.get(), KVM_GET_VCPU_MMAP_SIZE, nullptr, "KVM_GET_VCPU_MMAP_SIZE"));
  create_vcpu(0);
  load_segments(kernel);
  std::memcpy(memory_.at(kGdt, sizeof kGdtEntries).data(), kGdtEntries, sizeof kGdtEntries);
  if (kernel.protocol == BootProtocol::multiboot) enter_protected_mode(kernel, config);
  else enter_long_mode(kernel);
}

Machine::~Machine() {
  for (Vcpu& v : vcpus_)
    if (v.run) ::munmap(v.run, run_size_);
}

void Machine::create_vcpu(unsigned index) {
  Vcpu v;
  v.fd = kvm::OwnedFd(kvm::checked_ioctl(vm_.get(), KVM_CREATE_VCPU, reinterpret_cast<void*>(std::uintptr_t{index}),
                                         "KVM_CREATE_VCPU"));
  void* p = ::mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, v.fd.get(), 0);
  if (p == MAP_FAILED) throw Error(Errc::system, fmt::format("mmap of kvm_run: {}", std::strerror(errno)), errno);
  v.run = static_cast<kvm_run*>(p);
  // The host's supported CPUID: a 64-bit kernel's EFER.LME needs CPUID's long-mode bit (without
  // KVM_SET_CPUID2 wrmsr EFER raises #GP). Under QEMU TCG's nested SVM both calls fail with
  // EINVAL; the vCPU then keeps KVM's default, which boots our kernels too.
  constexpr int kEntries = 256;
  std::unique_ptr<kvm_cpuid2, decltype(&std::free)> cpuid(
      static_cast<kvm_cpuid2*>(std::calloc(1, sizeof(kvm_cpuid2) + kEntries * sizeof(kvm_cpuid_entry2))), &std::free);
  cpuid->nent = kEntries;
  if (::ioctl(kvm_.get(), KVM_GET_SUPPORTED_CPUID, cpuid.get()) == 0) ::ioctl(v.fd.get(), KVM_SET_CPUID2, cpuid.get());
  vcpus_.push_back(std::move(v));
}

void Machine::load_segments(const KernelImage& kernel) {
  for (const LoadSegment& s : kernel.segments) {
    if (!memory_.contains(s.paddr, s.memsz))
      throw Error(Errc::invalid_request,
                  fmt::format("kernel '{}' loads at [{:#x}, {:#x}), outside the guest's {} MiB of RAM: give more with -m",
                              kernel.path, s.paddr, s.paddr + s.memsz, memory_.size() >> 20));
    if (s.paddr < 0x100000 && s.paddr + s.memsz > kGdt)
      throw Error(Errc::invalid_request,
                  fmt::format("kernel '{}' loads at {:#x}, below 1 MiB where the loader keeps its tables: link it at "
                              "1 MiB or above",
                              kernel.path, s.paddr));
    auto dest = memory_.at(s.paddr, s.memsz);
    // A segment of bss alone has no file bytes: its empty vector's data() may be null, and
    // memcpy from null is undefined even for 0 bytes (C11 7.24.1p2; UBSan reports it).
    if (!s.bytes.empty()) std::memcpy(dest.data(), s.bytes.data(), s.bytes.size());
    std::memset(dest.data() + s.bytes.size(), 0, s.memsz - s.bytes.size());
  }
}

void Machine::enter_protected_mode(const KernelImage& kernel, const MachineConfig& config) {
  // The information goes after the kernel, page aligned, as QEMU places it.
  const std::uint64_t at = (kernel.end() + 0xfff) & ~0xfffull;
  const MultibootInfo info =
      build_multiboot_info(at, memory_.size(), config.cmdline.empty() ? kernel.path : kernel.path + " " + config.cmdline);
  if (!memory_.contains(at, info.bytes.size()))
    throw Error(Errc::invalid_request, fmt::format("no room for the Multiboot information after kernel '{}' in {} MiB "
                                                   "of RAM: give more with -m",
                                                   kernel.path, memory_.size() >> 20));
  std::memcpy(memory_.at(at, info.bytes.size()).data(), info.bytes.data(), info.bytes.size());
  mbi_address_ = at;

  // Multiboot Specification 3.2 "Machine state": 32-bit protected mode, paging off, flat
  // 4 GiB code and data segments, IF clear; EAX the magic, EBX the information.
  kvm_sregs s = special_registers(0);
  s.cr0 = 0x11;  // PE | ET
  s.cr3 = 0;
  s.cr4 = 0;
  s.efer = 0;
  s.cs = flat_segment(kCode32, true, false);
  s.ds = s.es = s.fs = s.gs = s.ss = flat_segment(kData, false, false);
  s.gdt.base = kGdt;
  s.gdt.limit = sizeof kGdtEntries - 1;
  s.idt = {};
  kvm::checked_ioctl(vcpu_fd(0), KVM_SET_SREGS, &s, "KVM_SET_SREGS");
  kvm_regs r{};
  r.rip = kernel.entry;
  r.rflags = 0x2;
  r.rax = kMultibootBootloaderMagic;
  r.rbx = at;
  kvm::checked_ioctl(vcpu_fd(0), KVM_SET_REGS, &r, "KVM_SET_REGS");
}

void Machine::enter_long_mode(const KernelImage& kernel) {
  const auto tables = build_identity_page_tables(kPageTables, memory_.size());
  std::memcpy(memory_.at(kPageTables, tables.size()).data(), tables.data(), tables.size());
  kvm_sregs s = special_registers(0);
  s.cr0 = 0x80050033;  // PG | AM | WP | NE | ET | MP | PE
  s.cr3 = kPageTables;
  s.cr4 = 0x620;   // OSXMMEXCPT | OSFXSR | PAE
  s.efer = 0x500;  // LMA | LME
  s.cs = flat_segment(kCode64, true, true);
  s.ds = s.es = s.fs = s.gs = s.ss = flat_segment(kData, false, true);
  s.tr = kvm_segment{};
  s.tr.limit = 0x67;
  s.tr.type = 0xb;  // busy 64-bit TSS: VMX refuses entry without a usable TR
  s.tr.present = 1;
  s.gdt.base = kGdt;
  s.gdt.limit = sizeof kGdtEntries - 1;
  s.idt = {};
  kvm::checked_ioctl(vcpu_fd(0), KVM_SET_SREGS, &s, "KVM_SET_SREGS");
  kvm_regs r{};
  r.rip = kernel.entry;
  r.rflags = 0x2;
  kvm::checked_ioctl(vcpu_fd(0), KVM_SET_REGS, &r, "KVM_SET_REGS");
}

hwbp::kvm::Vm Machine::handles() const {
  hwbp::kvm::Vm vm;
  vm.vm_fd = vm_.get();
  for (const Vcpu& v : vcpus_) vm.vcpu_fds.push_back(v.fd.get());
  vm.ram.push_back({0, 0, memory_.size(), memory_.host(), 0});
  return vm;
}

kvm_regs Machine::registers(unsigned vcpu) const {
  kvm_regs r{};
  kvm::checked_ioctl(vcpu_fd(vcpu), KVM_GET_REGS, &r, "KVM_GET_REGS");
  return r;
}

kvm_sregs Machine::special_registers(unsigned vcpu) const {
  kvm_sregs s{};
  kvm::checked_ioctl(vcpu_fd(vcpu), KVM_GET_SREGS, &s, "KVM_GET_SREGS");
  return s;
}

}  // namespace hwbp::vmm
