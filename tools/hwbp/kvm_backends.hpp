// Where KVM guests can run on this machine, for `hwbp doctor`: the machine's own /dev/kvm and
// the project's test VM (a nested kvm_amd under QEMU 10 TCG, docs/test-vm.md).
#pragma once

#include <string>

namespace hwbp::cli {

struct KvmBackends {
  bool native_usable = false;   // /dev/kvm opens read-write here
  bool test_vm_ready = false;   // the test VM's image is cached and its QEMU starts
  std::string native;           // what the machine's own /dev/kvm is, in words
  std::string test_vm;          // the test VM's state, in words
  std::string fix;              // what to do when neither works (or the native one is closed)
};

KvmBackends probe_kvm_backends();

}  // namespace hwbp::cli
