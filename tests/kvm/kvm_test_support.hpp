// Which KVM backend a test runs on, and the skips that follow from it (docs/test-vm.md).
//
// A KVM test binary runs twice (hwbp_add_kvm_tests in cmake/HwbpTestVm.cmake): natively, where
// the machine has a /dev/kvm, and always in the test VM (nested kvm_amd under QEMU 10 TCG). What
// each backend can deliver differs, so a test states what it needs and skips with the reason
// where that is missing — never passes without checking:
//
//   HWBP_KVM_REQUIRE()             a usable /dev/kvm
//   HWBP_KVM_REQUIRE_DATA_HITS()   guest data watchpoints fire (not on kvm_pvm)
//   HWBP_KVM_REQUIRE_REAL_VIRT(w)  real VMX/SVM: `int3` with USE_SW_BP and DR7.GD exit to the
//                                  VMM only there (not in the test VM, not on kvm_pvm)
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace hwbp::test::kvm {

struct Backend {
  bool usable = false;        // /dev/kvm opens read-write
  std::string module;         // kvm_intel, kvm_amd, kvm_pvm or "" (none loaded)
  bool in_test_vm = false;    // nested kvm_amd inside QEMU TCG: the project's test VM
  std::string why_unusable;   // set when !usable
};

inline bool module_loaded(const char* name) {
  return ::access((std::string("/sys/module/") + name).c_str(), F_OK) == 0;
}

// QEMU TCG names its CPU model this way; with kvm_amd loaded that is the test VM (test-vm.md).
inline bool cpu_is_qemu_tcg() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.find("QEMU TCG CPU") != std::string::npos;
  return false;
}

inline Backend detect_backend() {
  Backend b;
  for (const char* m : {"kvm_intel", "kvm_amd", "kvm_pvm"})
    if (module_loaded(m)) b.module = m;
  b.in_test_vm = b.module == "kvm_amd" && cpu_is_qemu_tcg();
  const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    b.usable = true;
  } else if (::access("/dev/kvm", F_OK) != 0) {
    b.why_unusable = "no /dev/kvm on this machine";
  } else {
    b.why_unusable = "/dev/kvm is not read/write for this user (add it to the kvm group)";
  }
  return b;
}

inline const Backend& backend() {
  static const Backend b = detect_backend();
  return b;
}

}  // namespace hwbp::test::kvm

// The vm.* copy of every KVM test binary runs it in the test VM, so a native skip loses nothing.
#define HWBP_KVM_REQUIRE()                                                                   \
  do {                                                                                       \
    if (!::hwbp::test::kvm::backend().usable)                                                \
      GTEST_SKIP() << ::hwbp::test::kvm::backend().why_unusable                              \
                   << " — the vm.* copy of this test runs it in the test VM (make test-vm)"; \
  } while (0)

#define HWBP_KVM_REQUIRE_DATA_HITS()                                                          \
  do {                                                                                        \
    HWBP_KVM_REQUIRE();                                                                       \
    if (::hwbp::test::kvm::backend().module == "kvm_pvm")                                     \
      GTEST_SKIP() << "kvm_pvm never fires guest data watchpoints (kvm-guest-debug.md 11) — " \
                      "the vm.* copy of this test runs it in the test VM (make test-vm)";     \
  } while (0)

#define HWBP_KVM_REQUIRE_REAL_VIRT(what)                                                       \
  do {                                                                                         \
    HWBP_KVM_REQUIRE();                                                                        \
    if (::hwbp::test::kvm::backend().in_test_vm)                                               \
      GTEST_SKIP() << what << " needs real VMX/SVM: QEMU TCG's nested SVM does not deliver it " \
                              "(docs/test-vm.md); it runs on hosts with kvm_intel or kvm_amd"; \
    if (::hwbp::test::kvm::backend().module == "kvm_pvm")                                      \
      GTEST_SKIP() << what << " needs real VMX/SVM: kvm_pvm does not deliver it "              \
                              "(kvm-guest-debug.md 11); it runs on hosts with kvm_intel or "   \
                              "kvm_amd";                                                       \
  } while (0)
