// hwbp vm's machine on a real /dev/kvm (natively where there is one, always in the test VM):
// the example kernel boots through the Multiboot loader, talks over the UART and ends through
// the debug-exit port with QEMU's status rule; bad kernels and a triple fault are refused or
// reported with what happened.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "kvm_test_support.hpp"
#include "vmm/kernel_image.hpp"
#include "vmm/machine.hpp"
#include "vmm/run_loop.hpp"

namespace {

using hwbp::vmm::Stop;

struct Console {
  char* text = nullptr;
  std::size_t size = 0;
  std::FILE* file = open_memstream(&text, &size);
  ~Console() {
    std::fclose(file);
    std::free(text);
  }
  std::string str() {
    std::fflush(file);
    return std::string(text, size);
  }
};

struct Booted {
  Stop stop;
  std::string console;
};

Booted boot(const std::string& cmdline, std::uint64_t ram = 64ull << 20) {
  Console console;
  const auto kernel = hwbp::vmm::read_kernel(HWBP_GUEST_KERNEL);
  hwbp::vmm::Machine machine(kernel, {ram, cmdline});
  hwbp::vmm::RunLoop loop(machine, console.file);
  Booted b;
  b.stop = loop.run();
  b.console = console.str();
  return b;
}

TEST(VmmBoot, MultibootKernelPrintsAndExitsWithQemusStatusRule) {
  HWBP_KVM_REQUIRE();
  const Booted b = boot("loops=6 exit=5");
  ASSERT_EQ(b.stop.kind, Stop::Kind::exited) << b.stop.message << "\n" << b.console;
  EXPECT_EQ(b.stop.exit_status, (5 << 1) | 1);
  EXPECT_EQ(b.console, std::string("hwbp example kernel\nmemory: ok\ncmdline: ") + HWBP_GUEST_KERNEL +
                           " loops=6 exit=5\ncounter 21, max_retries 5 (corrupted!)\n");
}

TEST(VmmBoot, DefaultRunFindsItsOwnCorruptionAndExitsWithOne) {
  HWBP_KVM_REQUIRE();
  const Booted b = boot("");
  ASSERT_EQ(b.stop.kind, Stop::Kind::exited) << b.stop.message;
  EXPECT_EQ(b.stop.exit_status, (1 << 1) | 1);
  EXPECT_NE(b.console.find("counter 15, max_retries 5 (corrupted!)"), std::string::npos) << b.console;
}

TEST(VmmBoot, FewerRoundsLeaveMaxRetriesIntactAndExitZero) {
  HWBP_KVM_REQUIRE();
  const Booted b = boot("loops=4");
  ASSERT_EQ(b.stop.kind, Stop::Kind::exited) << b.stop.message;
  EXPECT_EQ(b.stop.exit_status, 1);
  EXPECT_NE(b.console.find("counter 10, max_retries 3\n"), std::string::npos) << b.console;
}

TEST(VmmBoot, TripleFaultIsReportedWithTheLastState) {
  HWBP_KVM_REQUIRE();
  const Booted b = boot("fault");
  ASSERT_EQ(b.stop.kind, Stop::Kind::shutdown) << b.stop.message;
  EXPECT_NE(b.stop.message.find("triple-faulted"), std::string::npos);
  EXPECT_NE(b.stop.message.find("pc 0x"), std::string::npos);
}

TEST(VmmBoot, KernelOutsideRamIsRefused) {
  HWBP_KVM_REQUIRE();
  const auto kernel = hwbp::vmm::read_kernel(HWBP_GUEST_KERNEL);
  try {
    hwbp::vmm::Machine machine(kernel, {1ull << 20, ""});
    FAIL() << "a 1 MiB guest took a kernel linked at 1 MiB";
  } catch (const hwbp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("outside the guest's 1 MiB of RAM"), std::string::npos) << e.what();
  }
}

}  // namespace
