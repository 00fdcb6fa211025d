// Tests that need the CPU to deliver debug-register hits skip, with the reason, on machines
// whose hypervisor never delivers debug exceptions (`hwbp doctor`: "debug registers fire").
// One probe per test binary (perf::hit_delivery() is cached), the same one the doctor runs.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "perf/hit_delivery.hpp"

namespace hwbp::test {

inline std::string hits_not_delivered_reason() {
  return "debug exceptions are not delivered on this machine — hwbp doctor: debug registers "
         "fire: " + perf::hit_delivery().detail;
}

}  // namespace hwbp::test

// First statement of a test (or of a fixture's SetUp) that needs real hardware hits.
#define HWBP_REQUIRE_HITS()                                                 \
  do {                                                                      \
    if (!::hwbp::perf::hits_delivered())                                    \
      GTEST_SKIP() << ::hwbp::test::hits_not_delivered_reason();            \
  } while (0)
