// CPU-wide watches (CPU-bound events on every CPU): counting, admitted by the kernel's rule,
// and taking one slot from every thread.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "hwbp/hwbp.hpp"
#include "test_support.hpp"
#include "support/hit_delivery.hpp"

namespace hwbp::test {
namespace {

alignas(64) volatile std::uint64_t g_cpu_vars[8];

// CPU-bound events need CAP_PERFMON (or paranoid <= 0): skip with the reason otherwise.
bool arm_cpu_wide(Watch& out, std::uintptr_t addr, std::size_t len, std::string& why) {
  try {
    out = watch({addr, len, Access::write, Target::all_cpus(), {}});
    return true;
  } catch (const Error& e) {
    if (e.code() != Errc::permission) throw;
    why = e.what();
    return false;
  }
}

TEST(LibraryCpuWide, CountsWritesFromEveryThread) {
  HWBP_REQUIRE_HITS();
  Watch w;
  std::string why;
  if (!arm_cpu_wide(w, reinterpret_cast<std::uintptr_t>(&g_cpu_vars[0]), 8, why))
    GTEST_SKIP() << "CPU-wide events are not permitted here: " << why;
  for (int i = 0; i < 10; ++i) g_cpu_vars[0] = static_cast<std::uint64_t>(i);
  std::thread other([] {
    for (int i = 0; i < 5; ++i) g_cpu_vars[0] = static_cast<std::uint64_t>(i);
  });
  other.join();
  EXPECT_EQ(w.hits(), 15u);
  EXPECT_TRUE(active());
}

TEST(LibraryCpuWide, TakesASlotFromEveryThreadAndIsExplained) {
  HWBP_REQUIRE_HITS();  // the debug registers only: refused where they deliver no hits
  Watch cpu;
  std::string why;
  if (!arm_cpu_wide(cpu, reinterpret_cast<std::uintptr_t>(&g_cpu_vars[0]), 8, why))
    GTEST_SKIP() << "CPU-wide events are not permitted here: " << why;
  // Three slots are left on every thread.
  Watch three = watch(hw({reinterpret_cast<std::uintptr_t>(&g_cpu_vars[1]), 24, Access::write,
                          Target::this_thread(), {}}));
  try {
    Watch fourth = watch(hw({reinterpret_cast<std::uintptr_t>(&g_cpu_vars[5]), 8, Access::write,
                             Target::process(), {}}));
    FAIL() << "a fifth slot on this thread was admitted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::no_slots);
    EXPECT_NE(std::string(e.what()).find("CPU-wide"), std::string::npos) << e.what();
  }
}

TEST(LibraryCpuWide, RefusedWhereDebugExceptionsAreNotDelivered) {
  if (perf::hits_delivered()) GTEST_SKIP() << "debug-register hits are delivered here: CPU-wide watches count";
  try {
    Watch w = watch({reinterpret_cast<std::uintptr_t>(&g_cpu_vars[0]), 8, Access::write, Target::all_cpus(), {}});
    FAIL() << "a CPU-wide watch was armed where the debug registers deliver no hits (it would count 0)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::unsupported);
    EXPECT_NE(std::string(e.what()).find("CPU-wide"), std::string::npos) << e.what();
  }
}

TEST(LibraryCpuWide, RefusesCallbacksWithAReason) {
  try {
    Watch w = watch({reinterpret_cast<std::uintptr_t>(&g_cpu_vars[0]), 8, Access::write,
                     Target::all_cpus(), [](const Hit&) {}});
    FAIL() << "a CPU-wide watch with a callback was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_request);
    EXPECT_NE(std::string(e.what()).find("counts hits"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hwbp::test
