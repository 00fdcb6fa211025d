// Arming and re-targeting cost the kernel the same work whether or not the hypervisor delivers
// the breakpoints' #DB (perf_event_open, PERF_EVENT_IOC_MODIFY_ATTRIBUTES and close never wait
// for a hit), so the benchmarks of those costs arm the debug registers even on a machine whose
// debug exceptions are silent, and measure them natively instead of only in the emulated test
// VM. The benchmark's label says so. Benchmarks that need hits must not use this.
#pragma once

#include <benchmark/benchmark.h>

#include "perf/hit_delivery.hpp"

namespace hwbp::bench {

class ArmingCostOnly {
 public:
  explicit ArmingCostOnly(benchmark::State& state) {
    if (perf::hit_delivery().state != perf::HitDelivery::State::silent) return;
    perf::set_arm_debug_registers_even_if_silent(true);
    state.SetLabel("arming cost only: debug exceptions are not delivered here");
  }
  ~ArmingCostOnly() { perf::set_arm_debug_registers_even_if_silent(false); }
  ArmingCostOnly(const ArmingCostOnly&) = delete;
  ArmingCostOnly& operator=(const ArmingCostOnly&) = delete;
};

}  // namespace hwbp::bench
