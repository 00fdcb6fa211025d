// Slot sharing, running out of slots (nothing half-installed), foreign slot holders, and the
// error message of every bad input.
#include <gtest/gtest.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include <cstring>
#include <string>

#include "hwbp/hwbp.hpp"
#include "test_support.hpp"
#include "support/hit_delivery.hpp"
#include "support/slot_holders.hpp"

namespace hwbp::test {
namespace {

alignas(64) volatile std::uint64_t g_vars[8];

std::uintptr_t addr_of(int i) { return reinterpret_cast<std::uintptr_t>(&g_vars[i]); }

void expect_error(const std::function<void()>& f, Errc code, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
  }
}

TEST(LibrarySlots, IdenticalChunksShareOneSlotAndBothWatchesGetTheHit) {
  HWBP_REQUIRE_HITS();
  ASSERT_GE(slots_per_thread(), 4u) << "this test assumes the x86 budget of 4 slots";
  HWBP_REQUIRE_ALL_SLOTS(4);
  Watch a = watch({addr_of(0), 8, Access::write, Target::this_thread(), [](const Hit&) {}});
  Watch b = watch({addr_of(0), 8, Access::modify, Target::this_thread(), [](const Hit&) {}});
  ASSERT_EQ(a.chunks().size(), 1u);
  EXPECT_EQ(a.chunks()[0].slot, b.chunks()[0].slot);
  EXPECT_EQ(a.chunks()[0].shared, 2u);
  // Sharing leaves three slots for three more distinct watches.
  Watch c = watch({addr_of(1), 8, Access::write, Target::this_thread(), [](const Hit&) {}});
  Watch d = watch({addr_of(2), 8, Access::write, Target::this_thread(), [](const Hit&) {}});
  Watch e = watch({addr_of(3), 8, Access::write, Target::this_thread(), [](const Hit&) {}});
  g_vars[0] = 5;
  g_vars[0] = 5;
  EXPECT_EQ(a.hits(), 2u);
  EXPECT_EQ(b.hits(), 1u) << "modify ignores the same-value write";
  // Removing one sharer keeps the slot for the other.
  b.remove();
  EXPECT_EQ(a.chunks()[0].shared, 1u);
  g_vars[0] = 6;
  EXPECT_EQ(a.hits(), 3u);
}

TEST(LibrarySlots, FifthSlotFailsWithNothingHalfInstalled) {
  HWBP_REQUIRE_HITS();
  ASSERT_EQ(slots_per_thread(), 4u) << "this test needs exactly 4 slots (x86)";
  HWBP_REQUIRE_ALL_SLOTS(4);
  int fds_before = open_fd_count();
  Watch full = watch({addr_of(0), 32, Access::write, Target::this_thread(), [](const Hit&) {}});
  ASSERT_EQ(full.chunks().size(), 4u);
  int fds_with_one = open_fd_count();
  expect_error([&] { Watch extra = watch(hw({addr_of(4), 1, Access::write, Target::this_thread(), {}})); },
               Errc::no_slots, "needs 1 slot(s), but a thread has 4 debug-register slots");
  EXPECT_EQ(open_fd_count(), fds_with_one) << "a refused watch left file descriptors behind";
  g_vars[3] = 1;
  EXPECT_EQ(full.hits(), 1u) << "the existing watch must keep working";
  full.remove();
  EXPECT_EQ(open_fd_count(), fds_before);
  EXPECT_FALSE(active());
  // A single request that needs five slots fails whole.
  expect_error([&] { Watch big = watch(hw({addr_of(0), 40, Access::write, Target::this_thread(), {}})); },
               Errc::no_slots, "needs 5 slot(s)");
  EXPECT_EQ(open_fd_count(), fds_before);
  EXPECT_FALSE(active());
}

TEST(LibrarySlots, SlotHeldOutsideHwbpIsExplainedAndRolledBack) {
  HWBP_REQUIRE_HITS();  // the debug registers only: refused where they deliver no hits
  HWBP_REQUIRE_ALL_SLOTS(4);
  // Another debugger (here: a raw perf event) holds one slot of this thread.
  perf_event_attr attr{};
  attr.type = PERF_TYPE_BREAKPOINT;
  attr.size = sizeof attr;
  attr.bp_type = HW_BREAKPOINT_W;
  attr.bp_addr = addr_of(7);
  attr.bp_len = 8;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  attr.disabled = 1;
  int foreign = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  ASSERT_GE(foreign, 0) << std::strerror(errno);
  int fds_before = open_fd_count();
  expect_error([&] { Watch w = watch(hw({addr_of(0), 32, Access::write, Target::this_thread(), {}})); },
               Errc::no_slots, "elsewhere");
  EXPECT_EQ(open_fd_count(), fds_before) << "the three opened slots were not closed";
  EXPECT_FALSE(active());
  close(foreign);
  Watch w = watch({addr_of(0), 32, Access::write, Target::this_thread(), {}});
  EXPECT_EQ(w.chunks().size(), 4u);
}

// Issue 12: a test needing every slot must skip, naming the process, while another process holds
// a CPU-bound breakpoint (it takes a slot from every thread of the machine).
TEST(LibrarySlots, AnotherProcessHoldingASlotIsNamed) {
  HWBP_REQUIRE_ALL_SLOTS(4);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t holder = fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    prctl(PR_SET_NAME, "slot_holder");
    char ok = 1;
    const long cpus = sysconf(_SC_NPROCESSORS_CONF);
    for (long cpu = 0; cpu < cpus && ok; ++cpu) {
      perf_event_attr attr{};
      attr.type = PERF_TYPE_BREAKPOINT;
      attr.size = sizeof attr;
      attr.bp_type = HW_BREAKPOINT_W;
      attr.bp_addr = addr_of(7);
      attr.bp_len = 8;
      attr.exclude_kernel = 1;
      if (syscall(SYS_perf_event_open, &attr, -1, cpu, -1, 0) < 0 && (errno == EACCES || errno == EPERM))
        ok = 0;  // other errors: an offline CPU
    }
    (void)!write(ready[1], &ok, 1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char ok = 0;
  ASSERT_EQ(read(ready[0], &ok, 1), 1);
  close(ready[0]);
  const std::string why = slots_taken_elsewhere(4);
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  if (!ok) GTEST_SKIP() << "CPU-bound breakpoints need CAP_PERFMON or perf_event_paranoid <= 0";
  EXPECT_NE(why.find("gets only 3 of its 4"), std::string::npos) << why;
  EXPECT_NE(why.find("pid " + std::to_string(holder) + " (slot_holder)"), std::string::npos) << why;
}

TEST(LibrarySlots, ActiveIndicatorFollowsTheWatchSet) {
  EXPECT_FALSE(active());
  {
    Watch w = watch(g_vars[0], Access::write, {}, Target::this_thread());
    EXPECT_TRUE(active());
    w.disable();
    EXPECT_FALSE(active());
    w.enable();
    EXPECT_TRUE(active());
  }
  EXPECT_FALSE(active());
}

TEST(LibraryErrors, EveryBadInputHasItsOwnMessage) {
  expect_error([] { watch({0, 8, Access::write}); }, Errc::invalid_request, "0x0");
  expect_error([] { watch({addr_of(0), 0, Access::write}); }, Errc::invalid_request, "length 0");
  expect_error([] { watch({~std::uintptr_t{0} - 2, 8, Access::write}); }, Errc::invalid_request,
               "past the end of the address space");
  expect_error([] { watch({0xffff800000000000ull, 8, Access::write}); }, Errc::invalid_request,
               "kernel");
  // Beyond what the debug registers can cover (page protection has no such limit).
  expect_error([] { watch(hw({addr_of(0), 5000, Access::write})); }, Errc::invalid_request, "4096");
  expect_error([] { watch({addr_of(0), 3, Access::exec}); }, Errc::invalid_request, "execute breakpoint");
}

TEST(LibraryErrors, RemovedWatchIsAnInvalidState) {
  Watch w = watch(g_vars[0], Access::write, {}, Target::this_thread());
  Watch moved = std::move(w);
  EXPECT_FALSE(w.valid());
  expect_error([&] { w.enable(); }, Errc::invalid_state, "not armed");
  EXPECT_TRUE(moved.valid());
}

}  // namespace
}  // namespace hwbp::test
