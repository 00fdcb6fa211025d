// The smallest real KVM tests: a 16-bit real-mode guest of a few bytes run through /dev/kvm,
// with guest debugging (KVM_SET_GUEST_DEBUG) checked the way the kernel's x86/debug_regs.c
// selftest does. They prove that both places KVM tests run — the machine's own /dev/kvm and the
// test VM's nested kvm_amd — really execute guests and report debug exits, and they show the
// skips a backend's limits call for (kvm_test_support.hpp).
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "kvm_test_support.hpp"

namespace hwbp::test::kvm {
namespace {

constexpr std::uint64_t kMemSize = 0x10000;
constexpr std::uint64_t kCode = 0x1000;   // guest code; real mode, CS = 0: linear = physical
constexpr std::uint64_t kData = 0x2000;   // the variable the guest stores to
constexpr std::uint64_t kDr6Fixed = 0xffff0ff0;  // DR6 bits that read as 1
constexpr std::uint64_t kDr7Fixed = 0x400;       // DR7 bit 10 is reserved, set
constexpr std::uint32_t kDbVector = 1, kBpVector = 3;
constexpr std::uint64_t kTrapStub = 0x500;  // hlt: where every guest exception/interrupt goes

int checked(int rc, const char* what) {
  if (rc < 0) throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
  return rc;
}

// One VM, one vCPU, 64 KiB of RAM at guest-physical 0, real mode, code at kCode.
class RealModeGuest {
 public:
  explicit RealModeGuest(const std::vector<std::uint8_t>& code) {
    kvm_ = checked(::open("/dev/kvm", O_RDWR | O_CLOEXEC), "open /dev/kvm");
    EXPECT_EQ(::ioctl(kvm_, KVM_GET_API_VERSION, 0), KVM_API_VERSION);
    vm_ = checked(::ioctl(kvm_, KVM_CREATE_VM, 0), "KVM_CREATE_VM");
    mem_ = static_cast<std::uint8_t*>(
        ::mmap(nullptr, kMemSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    if (mem_ == MAP_FAILED) throw std::runtime_error("mmap guest memory");
    kvm_userspace_memory_region region{};
    region.memory_size = kMemSize;
    region.userspace_addr = reinterpret_cast<std::uint64_t>(mem_);
    checked(::ioctl(vm_, KVM_SET_USER_MEMORY_REGION, &region), "KVM_SET_USER_MEMORY_REGION");
    vcpu_ = checked(::ioctl(vm_, KVM_CREATE_VCPU, 0), "KVM_CREATE_VCPU");
    run_size_ = static_cast<std::size_t>(checked(::ioctl(kvm_, KVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE"));
    run_ = static_cast<kvm_run*>(::mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_, 0));
    if (run_ == MAP_FAILED) throw std::runtime_error("mmap kvm_run");
    std::memcpy(mem_ + kCode, code.data(), code.size());
    // A debug event the backend fails to report becomes a guest exception; sending every
    // real-mode vector to a hlt turns that into a HLT exit the test reports, not an endless
    // run through zeroed memory.
    mem_[kTrapStub] = 0xf4;
    for (int vector = 0; vector < 256; ++vector) std::memcpy(mem_ + 4 * vector, &kTrapStub, 2);
    kvm_sregs sregs{};
    checked(::ioctl(vcpu_, KVM_GET_SREGS, &sregs), "KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    checked(::ioctl(vcpu_, KVM_SET_SREGS, &sregs), "KVM_SET_SREGS");
    set_rip(kCode);
  }
  ~RealModeGuest() {
    if (run_ && run_ != MAP_FAILED) ::munmap(run_, run_size_);
    if (mem_ && mem_ != MAP_FAILED) ::munmap(mem_, kMemSize);
    for (int fd : {vcpu_, vm_, kvm_})
      if (fd >= 0) ::close(fd);
  }
  RealModeGuest(const RealModeGuest&) = delete;
  RealModeGuest& operator=(const RealModeGuest&) = delete;

  void set_rip(std::uint64_t rip) {
    kvm_regs regs{};
    regs.rip = rip;
    regs.rflags = 0x2;  // bit 1 is reserved, set
    checked(::ioctl(vcpu_, KVM_SET_REGS, &regs), "KVM_SET_REGS");
  }
  // The full debug state: KVM_SET_GUEST_DEBUG replaces it every time (kvm-guest-debug.md 3).
  void set_debug(std::uint32_t control, int slot = -1, std::uint64_t addr = 0, std::uint64_t dr7 = 0) {
    kvm_guest_debug dbg{};
    dbg.control = control;
    if (slot >= 0) dbg.arch.debugreg[slot] = addr;
    dbg.arch.debugreg[7] = dr7;
    checked(::ioctl(vcpu_, KVM_SET_GUEST_DEBUG, &dbg), "KVM_SET_GUEST_DEBUG");
  }
  std::uint32_t run() {
    checked(::ioctl(vcpu_, KVM_RUN, 0), "KVM_RUN");
    return run_->exit_reason;
  }
  const kvm_run& exit() const { return *run_; }
  std::uint8_t byte(std::uint64_t gpa) const { return mem_[gpa]; }

 private:
  int kvm_ = -1, vm_ = -1, vcpu_ = -1;
  std::uint8_t* mem_ = nullptr;
  kvm_run* run_ = nullptr;
  std::size_t run_size_ = 0;
};

// mov dx, 0x3f8 ; mov al, 'A' ; out dx, al ; hlt
const std::vector<std::uint8_t> kOutThenHlt{0xba, 0xf8, 0x03, 0xb0, 'A', 0xee, 0xf4};
constexpr std::uint64_t kOutHltAt = kCode + 6;
// mov byte [kData], 0x42 ; hlt
const std::vector<std::uint8_t> kStoreThenHlt{0xc6, 0x06, kData & 0xff, kData >> 8, 0x42, 0xf4};
constexpr std::uint64_t kAfterStore = kCode + 5;

// DR7 enabling slot i globally (G_i, as the selftest does) with the given R/W and LEN codes.
std::uint64_t dr7_for(int slot, unsigned rw, unsigned len) {
  return kDr7Fixed | (1ull << (2 * slot + 1)) | (std::uint64_t{rw | (len << 2)} << (16 + 4 * slot));
}

std::string describe_exit(const kvm_run& r) {
  std::ostringstream s;
  s << "exit reason " << r.exit_reason;
  if (r.exit_reason == KVM_EXIT_DEBUG)
    s << " (debug: exception " << r.debug.arch.exception << std::hex << ", pc 0x" << r.debug.arch.pc
      << ", dr6 0x" << r.debug.arch.dr6 << ")";
  if (r.exit_reason == KVM_EXIT_INTERNAL_ERROR) s << " (internal error, suberror " << r.internal.suberror << ")";
  return s.str();
}

TEST(KvmSmoke, GuestOutThenHltExitToTheVmm) {
  HWBP_KVM_REQUIRE();
  RealModeGuest g(kOutThenHlt);
  ASSERT_EQ(g.run(), KVM_EXIT_IO) << describe_exit(g.exit());
  const auto& io = g.exit().io;
  EXPECT_EQ(io.direction, KVM_EXIT_IO_OUT);
  EXPECT_EQ(io.port, 0x3f8);
  EXPECT_EQ(io.size, 1);
  EXPECT_EQ(io.count, 1u);
  EXPECT_EQ(reinterpret_cast<const char*>(&g.exit())[io.data_offset], 'A');
  EXPECT_EQ(g.run(), KVM_EXIT_HLT) << describe_exit(g.exit());
}

// Fault-like: the exit comes before the instruction runs, with pc on it, in every DR.
TEST(KvmSmoke, ExecBreakpointFiresInEachDebugRegister) {
  HWBP_KVM_REQUIRE();
  RealModeGuest g(kOutThenHlt);
  ASSERT_EQ(g.run(), KVM_EXIT_IO);  // up to the hlt
  for (int slot = 0; slot < 4; ++slot) {
    SCOPED_TRACE("DR" + std::to_string(slot));
    g.set_debug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP, slot, kOutHltAt, dr7_for(slot, 0, 0));
    ASSERT_EQ(g.run(), KVM_EXIT_DEBUG) << describe_exit(g.exit());
    EXPECT_EQ(g.exit().debug.arch.exception, kDbVector);
    EXPECT_EQ(g.exit().debug.arch.pc, kOutHltAt);
    EXPECT_EQ(g.exit().debug.arch.dr6, kDr6Fixed | (1u << slot));
  }
  g.set_debug(0);
  EXPECT_EQ(g.run(), KVM_EXIT_HLT) << describe_exit(g.exit());
}

// Trap-like: the exit comes after the store, which has happened, with the slot's bit in DR6.
TEST(KvmSmoke, WriteWatchpointFiresInEachDebugRegister) {
  HWBP_KVM_REQUIRE_DATA_HITS();
  for (int slot = 0; slot < 4; ++slot) {
    SCOPED_TRACE("DR" + std::to_string(slot));
    RealModeGuest g(kStoreThenHlt);
    g.set_debug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP, slot, kData, dr7_for(slot, 1, 0));
    ASSERT_EQ(g.run(), KVM_EXIT_DEBUG) << describe_exit(g.exit());
    EXPECT_EQ(g.exit().debug.arch.exception, kDbVector);
    EXPECT_EQ(g.exit().debug.arch.pc, kAfterStore);
    EXPECT_EQ(g.exit().debug.arch.dr6, kDr6Fixed | (1u << slot));
    EXPECT_EQ(g.byte(kData), 0x42);
    g.set_debug(0);
    EXPECT_EQ(g.run(), KVM_EXIT_HLT) << describe_exit(g.exit());
  }
}

// A 1-byte write watch one byte past the store does not fire: the coverage is exact.
TEST(KvmSmoke, WriteWatchpointIgnoresAStoreNextToIt) {
  HWBP_KVM_REQUIRE_DATA_HITS();
  RealModeGuest g(kStoreThenHlt);
  g.set_debug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP, 0, kData + 1, dr7_for(0, 1, 0));
  EXPECT_EQ(g.run(), KVM_EXIT_HLT) << describe_exit(g.exit());
  EXPECT_EQ(g.byte(kData), 0x42);
}

// Each step exits with BS (DR6 bit 14) and pc on the next instruction.
TEST(KvmSmoke, SingleStepExitsAfterEachInstruction) {
  HWBP_KVM_REQUIRE();
  RealModeGuest g({0x90, 0x90, 0x90, 0xf4});  // nop x3, hlt
  for (std::uint64_t step = 1; step <= 3; ++step) {
    g.set_debug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP);
    ASSERT_EQ(g.run(), KVM_EXIT_DEBUG) << describe_exit(g.exit());
    EXPECT_EQ(g.exit().debug.arch.pc, kCode + step);
    EXPECT_EQ(g.exit().debug.arch.dr6, kDr6Fixed | 0x4000);
  }
  g.set_debug(0);
  EXPECT_EQ(g.run(), KVM_EXIT_HLT) << describe_exit(g.exit());
}

TEST(KvmSmoke, Int3WithUseSwBpExitsAtTheInt3) {
  HWBP_KVM_REQUIRE_REAL_VIRT("int3 with KVM_GUESTDBG_USE_SW_BP");
  RealModeGuest g({0x90, 0xcc, 0xf4});  // nop, int3, hlt
  g.set_debug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP);
  ASSERT_EQ(g.run(), KVM_EXIT_DEBUG) << describe_exit(g.exit());
  EXPECT_EQ(g.exit().debug.arch.exception, kBpVector);
  EXPECT_EQ(g.exit().debug.arch.pc, kCode + 1);
}

TEST(KvmSmoke, GeneralDetectTrapsAGuestMovFromDr0) {
  HWBP_KVM_REQUIRE_REAL_VIRT("DR7.GD (general detect)");
  RealModeGuest g({0x0f, 0x21, 0xc0, 0xf4});  // mov eax, dr0 ; hlt
  g.set_debug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP, -1, 0, kDr7Fixed | (1u << 13));
  ASSERT_EQ(g.run(), KVM_EXIT_DEBUG) << describe_exit(g.exit());
  EXPECT_EQ(g.exit().debug.arch.exception, kDbVector);
  EXPECT_EQ(g.exit().debug.arch.pc, kCode);
  EXPECT_EQ(g.exit().debug.arch.dr6, kDr6Fixed | 0x2000);
}

}  // namespace
}  // namespace hwbp::test::kvm
