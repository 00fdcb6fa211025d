#include "support/seed_guest.hpp"

#include <sys/ioctl.h>

#include <cerrno>
#include <stdexcept>
#include <string>

extern "C" const char g_seed[], g_seed_x0[], g_seed_x1[];

namespace hwbp::test::kvm {

SeedRun run_seed_guest(TestVm& vm, std::uint64_t iterations, const std::function<void()>& after_exit) {
  using hwbp::kvm::Engine;
  using hwbp::kvm::WatchSpec;
  vm.enter(0, guest_address(g_seed), kData, 0, iterations);
  hwbp::kvm::GuestDebugger dbg(vm.handles());
  const Engine stores = dbg.capabilities().data_hits ? Engine::hardware : Engine::automatic;
  dbg.add(std::vector<WatchSpec>{{guest_address(g_seed_x0), 1, Access::exec, Engine::hardware},
                                 {guest_address(g_seed_x1), 1, Access::exec, Engine::hardware},
                                 {kData, 4, Access::write, stores},
                                 {kData + 8, 4, Access::write, stores}});
  SeedRun result;
  kvm_run* run = vm.run_state(0);
  for (;;) {
    dbg.prepare_run(0);
    if (::ioctl(vm.vcpu_fd(0), KVM_RUN, 0) < 0 && errno != EINTR)
      throw std::runtime_error("KVM_RUN: " + std::to_string(errno));
    const hwbp::kvm::ExitResult r = dbg.handle_exit(0);
    ++result.exits;
    for (const auto& e : r.events) {
      if (e.kind == hwbp::kvm::EventKind::breakpoint) ++result.breakpoints;
      if (e.kind == hwbp::kvm::EventKind::data) ++result.data;
    }
    after_exit();
    if (r.consumed) continue;
    if (run->exit_reason == KVM_EXIT_IO && run->io.port == kPortDone) {
      result.finished = true;
      return result;
    }
    return result;  // anything else ends the run: the caller's assertions say what was missing
  }
}

}  // namespace hwbp::test::kvm
