#include "support/test_vmm.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

extern "C" const char g_vectors[];
extern "C" const char hwbp_guest_end[];

namespace hwbp::test::kvm {

namespace {

constexpr std::uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kPt0 = 0x4000, kPt1 = 0x5000;
constexpr std::uint64_t kGdt = 0x7000, kIdt = 0x8000, kStackTop = 0x10000;
constexpr std::uint64_t kHighPd = 0x1f000;  // maps the local APIC's page (3-4 GiB)
constexpr std::uint64_t kApic = 0xfee00000;
constexpr std::uint64_t kPresentWritable = 0x3, kLargePage = 0x80;
constexpr unsigned kMaxVcpus = 7;  // one 4 KiB stack each in 0x9000-0xffff

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

int must(int rc, const char* what) {
  if (rc < 0) fail(what);
  return rc;
}

std::uint8_t* map_ram(std::size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) fail("mmap guest RAM");
  return static_cast<std::uint8_t*>(p);
}

// The watchdog: a signal to the running thread that makes KVM_RUN return EINTR, via
// immediate_exit in case the signal lands between two KVM_RUNs.
thread_local kvm_run* watched_run = nullptr;
void on_watchdog(int) {
  if (watched_run) watched_run->immediate_exit = 1;
}

class Watchdog {
 public:
  Watchdog(kvm_run* run, double seconds) {
    static const bool installed = [] {
      struct sigaction sa {};
      sa.sa_handler = on_watchdog;  // no SA_RESTART: KVM_RUN must return
      sigemptyset(&sa.sa_mask);
      ::sigaction(SIGUSR2, &sa, nullptr);
      return true;
    }();
    (void)installed;
    watched_run = run;
    sigevent ev{};
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGUSR2;
    ev._sigev_un._tid =
        static_cast<pid_t>(::gettid());  // sigev_notify_thread_id (glibc names it only from 2.37)
    if (::timer_create(CLOCK_MONOTONIC, &ev, &timer_) < 0) fail("timer_create");
    itimerspec its{};
    its.it_value.tv_sec = static_cast<time_t>(seconds);
    its.it_value.tv_nsec = static_cast<long>((seconds - static_cast<double>(its.it_value.tv_sec)) * 1e9);
    ::timer_settime(timer_, 0, &its, nullptr);
  }
  ~Watchdog() {
    ::timer_delete(timer_);
    watched_run = nullptr;
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  timer_t timer_{};
};

kvm_segment segment(std::uint16_t selector, std::uint8_t type, bool code) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = code ? 0 : 1;
  s.s = 1;
  s.l = code ? 1 : 0;
  s.g = 1;
  return s;
}

}  // namespace

std::string GuestStop::describe() const {
  char b[160];
  switch (kind) {
    case Kind::events: {
      std::string s = std::to_string(events.size()) + " debugger event(s):";
      for (const auto& e : events) {
        std::snprintf(b, sizeof b, " [%s watch %llu pc 0x%llx addr 0x%llx dr6 0x%llx]",
                      hwbp::kvm::to_string(e.kind), static_cast<unsigned long long>(e.watch),
                      static_cast<unsigned long long>(e.pc), static_cast<unsigned long long>(e.addr),
                      static_cast<unsigned long long>(e.dr6));
        s += b;
      }
      return s;
    }
    case Kind::done:
      return "the guest finished (done port)";
    case Kind::report:
      std::snprintf(b, sizeof b, "the guest handled vector %llu at rip 0x%llx (dr6 0x%llx)",
                    static_cast<unsigned long long>(vector), static_cast<unsigned long long>(rip),
                    static_cast<unsigned long long>(dr6));
      return b;
    case Kind::mark:
      return "the guest reached a mark";
    case Kind::fatal:
      std::snprintf(b, sizeof b,
                    "the guest took an unexpected exception: vector %llu at rip 0x%llx, error 0x%llx",
                    static_cast<unsigned long long>(vector), static_cast<unsigned long long>(rip),
                    static_cast<unsigned long long>(error));
      return b;
    case Kind::timeout:
      return "the guest ran past the test's time limit";
    case Kind::other:
      return "an exit the test VMM does not handle: reason " + std::to_string(exit_reason);
  }
  return "?";
}

TestVm::TestVm(Options options) {
  if (options.vcpus == 0 || options.vcpus > kMaxVcpus) throw std::invalid_argument("TestVm: 1 to 7 vCPUs");
  kvm_ = must(::open("/dev/kvm", O_RDWR | O_CLOEXEC), "open /dev/kvm");
  vm_ = must(::ioctl(kvm_, KVM_CREATE_VM, 0), "KVM_CREATE_VM");
  // Real mode needs a TSS for VMX's emulation of it on old CPUs; harmless otherwise.
  ::ioctl(vm_, KVM_SET_TSS_ADDR, 0xfffbd000ul);
  // An in-kernel local APIC: the selftest's self-IPI and BLOCKIRQ need one.
  must(::ioctl(vm_, KVM_CREATE_IRQCHIP, 0), "KVM_CREATE_IRQCHIP");
  ram_ = map_ram(kRamSize);
  ram2_ = map_ram(kRegion2Size);
  for (const auto& r : handles().ram) {
    kvm_userspace_memory_region m{r.slot, r.flags, r.guest_phys, r.size,
                                  reinterpret_cast<std::uint64_t>(r.host)};
    must(::ioctl(vm_, KVM_SET_USER_MEMORY_REGION, &m), "KVM_SET_USER_MEMORY_REGION");
  }
  const std::size_t code_size = static_cast<std::size_t>(hwbp_guest_end - hwbp_guest_begin);
  std::memcpy(ram_ + kGuestCode, hwbp_guest_begin, code_size);
  build_page_tables();
  build_descriptor_tables();
  run_size_ =
      static_cast<std::size_t>(must(::ioctl(kvm_, KVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE"));
  for (unsigned i = 0; i < options.vcpus; ++i) setup_vcpu(i, kvm_);
}

TestVm::~TestVm() {
  for (const Vcpu& v : vcpus_) {
    if (v.run) ::munmap(v.run, run_size_);
    if (v.fd >= 0) ::close(v.fd);
  }
  if (ram_) ::munmap(ram_, kRamSize);
  if (ram2_) ::munmap(ram2_, kRegion2Size);
  if (vm_ >= 0) ::close(vm_);
  if (kvm_ >= 0) ::close(kvm_);
}

hwbp::kvm::Vm TestVm::handles() const {
  hwbp::kvm::Vm vm;
  vm.vm_fd = vm_;
  for (const Vcpu& v : vcpus_) vm.vcpu_fds.push_back(v.fd);
  vm.ram.push_back({0, 0, kRamSize, ram_, 0});
  vm.ram.push_back({1, kRegion2, kRegion2Size, ram2_, 0});
  return vm;
}

std::uint8_t* TestVm::host(std::uint64_t gpa) const {
  if (gpa < kRamSize) return ram_ + gpa;
  if (gpa >= kRegion2 && gpa < kRegion2 + kRegion2Size) return ram2_ + (gpa - kRegion2);
  throw std::out_of_range("TestVm::host: not guest RAM");
}

void TestVm::build_page_tables() const {
  store<std::uint64_t>(kPml4, kPdpt | kPresentWritable);
  store<std::uint64_t>(kPdpt, kPd | kPresentWritable);
  store<std::uint64_t>(kPd + 0 * 8, kPt0 | kPresentWritable);
  store<std::uint64_t>(kPd + 1 * 8, kPt1 | kPresentWritable);
  store<std::uint64_t>(kPd + 2 * 8, kAliasPageTable | kPresentWritable);
  store<std::uint64_t>(kPd + 8 * 8, kRegion2 | kPresentWritable | kLargePage);
  // The xAPIC's registers at 0xfee00000 (the in-kernel APIC handles the MMIO), 2 MiB page,
  // cache disabled (PCD).
  store<std::uint64_t>(kPdpt + 3 * 8, kHighPd | kPresentWritable);
  store<std::uint64_t>(kHighPd + ((kApic >> 21) & 511) * 8, kApic | kPresentWritable | kLargePage | 0x10);
  for (std::uint64_t i = 0; i < 512; ++i) {
    store<std::uint64_t>(kPt0 + 8 * i, (i << 12) | kPresentWritable);
    store<std::uint64_t>(kPt1 + 8 * i, (0x200000 + (i << 12)) | kPresentWritable);
  }
  for (std::uint64_t i = 0; i < 256; ++i)
    store<std::uint64_t>(kAliasPageTable + 8 * i, (kAliasPhysical + (i << 12)) | kPresentWritable);
}

void TestVm::build_descriptor_tables() const {
  store<std::uint64_t>(kGdt + 0, 0);
  store<std::uint64_t>(kGdt + 8, 0x00AF9A000000FFFFull);   // 0x08: 64-bit code, DPL 0
  store<std::uint64_t>(kGdt + 16, 0x00CF92000000FFFFull);  // 0x10: data
  const std::uint64_t stubs = guest_address(g_vectors);
  for (std::uint64_t v = 0; v < 256; ++v) {
    const std::uint64_t handler = stubs + 16 * v;
    std::uint8_t gate[16] = {};
    gate[0] = handler & 0xff;
    gate[1] = (handler >> 8) & 0xff;
    gate[2] = 0x08;  // code selector
    gate[5] = 0x8e;  // present, DPL 0, 64-bit interrupt gate
    gate[6] = (handler >> 16) & 0xff;
    gate[7] = (handler >> 24) & 0xff;
    for (int i = 0; i < 4; ++i) gate[8 + i] = (handler >> (32 + 8 * i)) & 0xff;
    std::memcpy(host(kIdt + 16 * v), gate, 16);
  }
}

void TestVm::setup_vcpu(unsigned index, int kvm_fd) {
  Vcpu v;
  v.fd = must(::ioctl(vm_, KVM_CREATE_VCPU, index), "KVM_CREATE_VCPU");
  void* p = ::mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, v.fd, 0);
  if (p == MAP_FAILED) fail("mmap kvm_run");
  v.run = static_cast<kvm_run*>(p);
  vcpus_.push_back(v);
  // The host's supported CPUID, as a VMM gives its guests. The guest needs none of it (it uses
  // the xAPIC by MMIO, which needs no CPUID bit), and under QEMU TCG (the test VM) both
  // KVM_GET_SUPPORTED_CPUID and KVM_SET_CPUID2 fail with EINVAL: then the vCPU keeps KVM's default.
  constexpr int kEntries = 256;
  auto cpuid = std::unique_ptr<kvm_cpuid2, decltype(&std::free)>(
      static_cast<kvm_cpuid2*>(std::calloc(1, sizeof(kvm_cpuid2) + kEntries * sizeof(kvm_cpuid_entry2))),
      &std::free);
  cpuid->nent = kEntries;
  if (::ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid.get()) == 0) ::ioctl(v.fd, KVM_SET_CPUID2, cpuid.get());

  kvm_sregs s{};
  must(::ioctl(v.fd, KVM_GET_SREGS, &s), "KVM_GET_SREGS");
  s.cr0 = 0x80050033;  // PG | AM | WP | NE | ET | MP | PE
  s.cr3 = kPml4;
  s.cr4 = 0x620;   // OSXMMEXCPT | OSFXSR | PAE
  s.efer = 0x500;  // LMA | LME
  s.cs = segment(0x08, 0xb, true);
  s.ds = s.es = s.fs = s.gs = s.ss = segment(0x10, 0x3, false);
  s.tr = kvm_segment{};
  s.tr.limit = 0x67;
  s.tr.type = 0xb;  // busy 64-bit TSS: VMX refuses entry without a usable TR
  s.tr.present = 1;
  s.gdt.base = kGdt;
  s.gdt.limit = 23;
  s.idt.base = kIdt;
  s.idt.limit = 256 * 16 - 1;
  must(::ioctl(v.fd, KVM_SET_SREGS, &s), "KVM_SET_SREGS");
  if (index > 0) {
    // With an in-kernel APIC, application processors wait for INIT/SIPI; start them directly.
    kvm_mp_state mp{KVM_MP_STATE_RUNNABLE};
    must(::ioctl(v.fd, KVM_SET_MP_STATE, &mp), "KVM_SET_MP_STATE");
  }
  enter(index, guest_address(hwbp_guest_begin));
}

kvm_regs TestVm::regs(unsigned vcpu) const {
  kvm_regs r{};
  must(::ioctl(vcpus_.at(vcpu).fd, KVM_GET_REGS, &r), "KVM_GET_REGS");
  return r;
}

void TestVm::set_regs(unsigned vcpu, const kvm_regs& r) const {
  must(::ioctl(vcpus_.at(vcpu).fd, KVM_SET_REGS, &r), "KVM_SET_REGS");
}

void TestVm::enter(unsigned vcpu, std::uint64_t rip, std::uint64_t rdi, std::uint64_t rsi, std::uint64_t rcx,
                   std::uint64_t rax, std::uint64_t rbx, std::uint64_t rdx) const {
  kvm_regs r{};
  r.rip = rip;
  r.rflags = 0x2;
  r.rsp = kStackTop - 0x1000 * vcpu;
  r.rdi = rdi;
  r.rsi = rsi;
  r.rcx = rcx;
  r.rax = rax;
  r.rbx = rbx;
  r.rdx = rdx;
  set_regs(vcpu, r);
}

kvm_debugregs TestVm::debugregs(unsigned vcpu) const {
  kvm_debugregs d{};
  must(::ioctl(vcpus_.at(vcpu).fd, KVM_GET_DEBUGREGS, &d), "KVM_GET_DEBUGREGS");
  return d;
}

GuestStop TestVm::guest_io(unsigned vcpu) {
  GuestStop stop;
  const kvm_run& r = *vcpus_.at(vcpu).run;
  const kvm_regs regs = this->regs(vcpu);
  switch (r.io.port) {
    case kPortReport:
    case kPortFatal:
      stop.kind = r.io.port == kPortReport ? GuestStop::Kind::report : GuestStop::Kind::fatal;
      stop.vector = regs.rax & 0xff;
      stop.rip = regs.rbx;
      stop.dr6 = regs.rcx;
      stop.error = regs.rdx;
      return stop;
    case kPortDone:
      stop.kind = GuestStop::Kind::done;
      return stop;
    case kPortMark:
      stop.kind = GuestStop::Kind::mark;
      stop.rax = regs.rax;
      stop.rbx = regs.rbx;
      return stop;
    default:
      stop.kind = GuestStop::Kind::other;
      stop.exit_reason = KVM_EXIT_IO;
      return stop;
  }
}

GuestStop TestVm::run(unsigned vcpu, hwbp::kvm::GuestDebugger* debugger, double seconds) {
  Vcpu& v = vcpus_.at(vcpu);
  reset_exit_counts();
  Watchdog watchdog(v.run, seconds);
  for (;;) {
    if (debugger) debugger->prepare_run(vcpu);
    const int rc = ::ioctl(v.fd, KVM_RUN, 0);
    const int err = errno;
    hwbp::kvm::ExitResult result;
    if (debugger) result = debugger->handle_exit(vcpu);
    if (rc < 0) {
      if (err == EINTR) {
        v.run->immediate_exit = 0;
        GuestStop stop;
        stop.kind = GuestStop::Kind::timeout;
        return stop;
      }
      errno = err;
      fail("KVM_RUN");
    }
    if (v.run->exit_reason < exit_counts_.size()) ++exit_counts_[v.run->exit_reason];
    if (result.consumed && result.events.empty()) continue;
    GuestStop stop;
    if (result.consumed) {
      stop.kind = GuestStop::Kind::events;
    } else if (v.run->exit_reason == KVM_EXIT_IO && v.run->io.direction == KVM_EXIT_IO_OUT) {
      stop = guest_io(vcpu);  // the VMM's own exit, with whatever the debugger saw at it
    } else {
      stop.kind = GuestStop::Kind::other;
      stop.exit_reason = v.run->exit_reason;
    }
    stop.events.assign(result.events.begin(), result.events.end());
    return stop;
  }
}

}  // namespace hwbp::test::kvm
