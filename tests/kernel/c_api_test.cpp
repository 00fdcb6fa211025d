// The C API over real watchpoints: status codes, messages, callbacks, enable/disable/retarget.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hwbp/hwbp.h"
#include "support/hit_delivery.hpp"

namespace {

volatile long g_x = 0, g_y = 0;
int g_calls = 0;
uint64_t g_last_new = 0;

hwbp_mechanism g_last_mechanism = HWBP_MECHANISM_DEBUG_REGISTERS;
bool g_last_bytes_ok = false;

void on_hit(const hwbp_hit* hit, void* user) {
  ++g_calls;
  g_last_new = hit->new_value;
  g_last_mechanism = hit->mechanism;
  g_last_bytes_ok = hit->new_bytes != nullptr && hit->len <= 8 && hit->new_bytes[0] == (hit->new_value & 0xff);
  *static_cast<int*>(user) += 1;
}

// On both engines: the debug registers (skipped where they deliver no hits) and page protection.
class CApiEngines : public testing::TestWithParam<hwbp_engine> {};
INSTANTIATE_TEST_SUITE_P(Engines, CApiEngines, testing::Values(HWBP_ENGINE_HARDWARE, HWBP_ENGINE_PAGE),
                         [](const testing::TestParamInfo<hwbp_engine>& i) {
                           return std::string(i.param == HWBP_ENGINE_HARDWARE ? "hw" : "page");
                         });

TEST_P(CApiEngines, CallbackEnableDisableRetarget) {
  if (GetParam() == HWBP_ENGINE_HARDWARE) HWBP_REQUIRE_HITS();
  g_calls = 0;
  int user_count = 0;
  hwbp_options o = HWBP_OPTIONS_INIT;
  o.addr = reinterpret_cast<uintptr_t>(&g_x);
  o.len = sizeof g_x;
  o.access = HWBP_WRITE;
  o.target = HWBP_TARGET_THREAD;
  o.callback = on_hit;
  o.user = &user_count;
  o.engine = GetParam();
  hwbp_watch* w = nullptr;
  ASSERT_EQ(hwbp_watch_create(&o, &w), HWBP_OK) << hwbp_last_error();
  EXPECT_NE(hwbp_watch_id(w), 0u);
  hwbp_mechanism mechanism{};
  const char* reason = nullptr;
  ASSERT_EQ(hwbp_watch_mechanism(w, &mechanism, &reason), HWBP_OK);
  EXPECT_EQ(mechanism, GetParam() == HWBP_ENGINE_HARDWARE ? HWBP_MECHANISM_DEBUG_REGISTERS
                                                          : HWBP_MECHANISM_PAGE_PROTECTION);
  EXPECT_STREQ(reason, "requested");
  EXPECT_STREQ(hwbp_mechanism_name(mechanism), GetParam() == HWBP_ENGINE_HARDWARE ? "debug registers" : "page protection");
  EXPECT_EQ(hwbp_active(), 1);
  g_x = 3;
  EXPECT_EQ(user_count, 1);
  EXPECT_EQ(g_last_new, 3u);
  ASSERT_EQ(hwbp_watch_disable(w), HWBP_OK);
  g_x = 4;
  EXPECT_EQ(user_count, 1);
  ASSERT_EQ(hwbp_watch_enable(w), HWBP_OK);
  ASSERT_EQ(hwbp_watch_retarget(w, reinterpret_cast<uintptr_t>(&g_y), sizeof g_y), HWBP_OK);
  g_x = 5;
  g_y = 6;
  uint64_t hits = 0;
  ASSERT_EQ(hwbp_watch_hits(w, &hits), HWBP_OK);
  EXPECT_EQ(hits, 2u);
  EXPECT_EQ(g_last_new, 6u);
  EXPECT_EQ(g_last_mechanism, mechanism);
  EXPECT_TRUE(g_last_bytes_ok) << "old_bytes/new_bytes carry the chunk's bytes";
  hwbp_watch_destroy(w);
  EXPECT_EQ(hwbp_active(), 0);
}

int g_ends = 0;
void on_end(const hwbp_end* end, void* user) {
  if (end->syscall != nullptr && std::string(end->syscall) == "munmap") ++g_ends;
  *static_cast<int*>(user) += 100;
}

TEST(CApi, PageWatchEndsWhenItsMemoryGoesAway) {
  void* m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  int user = 0;
  hwbp_options o = HWBP_OPTIONS_INIT;
  o.addr = reinterpret_cast<uintptr_t>(m);
  o.len = 4096;  // any length on page protection
  o.access = HWBP_MODIFY;
  o.engine = HWBP_ENGINE_PAGE;
  o.on_end = on_end;
  o.user = &user;
  hwbp_watch* w = nullptr;
  ASSERT_EQ(hwbp_watch_create(&o, &w), HWBP_OK) << hwbp_last_error();
  static_cast<volatile char*>(m)[100] = 1;
  uint64_t hits = 0;
  ASSERT_EQ(hwbp_watch_hits(w, &hits), HWBP_OK);
  EXPECT_EQ(hits, 1u);
  g_ends = 0;
  ASSERT_EQ(munmap(m, 4096), 0);
  EXPECT_EQ(g_ends, 1);
  EXPECT_EQ(user, 100);
  hwbp_watch_destroy(w);
}

TEST(CApi, ErrorsAreStatusCodesWithOneLineMessages) {
  hwbp_options o{};
  o.addr = 0;
  o.len = 8;
  o.access = HWBP_WRITE;
  hwbp_watch* w = nullptr;
  EXPECT_EQ(hwbp_watch_create(&o, &w), HWBP_E_INVALID_REQUEST);
  EXPECT_EQ(w, nullptr);
  EXPECT_NE(std::string(hwbp_last_error()).find("null address"), std::string::npos) << hwbp_last_error();
  o.addr = reinterpret_cast<uintptr_t>(&g_x);
  int bad_access = 42;  // what a C or FFI caller can put in the field
  std::memcpy(&o.access, &bad_access, sizeof bad_access);
  EXPECT_EQ(hwbp_watch_create(&o, &w), HWBP_E_INVALID_REQUEST);
  EXPECT_NE(std::string(hwbp_last_error()).find("unknown access kind 42"), std::string::npos);
  EXPECT_EQ(hwbp_watch_create(nullptr, &w), HWBP_E_INVALID_REQUEST);
  EXPECT_EQ(hwbp_watch_enable(nullptr), HWBP_E_INVALID_STATE);
  o.access = HWBP_WRITE;
  o.target = HWBP_TARGET_THREAD;
  o.tid = 0x3ffffff0;
  EXPECT_EQ(hwbp_watch_create(&o, &w), HWBP_E_NO_SUCH_THREAD) << hwbp_last_error();
  EXPECT_GE(hwbp_slots_per_thread(), 1u);
}

// Issue 12: the C API refuses a thread of another process (a hit would kill it with SIGTRAP)
// and every target kind it does not know, whatever a C or FFI caller stores in the field.
TEST(CApi, ThreadOfAnotherProcessAndUnknownTargetKindsAreRefused) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (;;) pause();
  }
  hwbp_options o = HWBP_OPTIONS_INIT;
  o.addr = reinterpret_cast<uintptr_t>(&g_x);
  o.len = sizeof g_x;
  o.access = HWBP_WRITE;
  o.target = HWBP_TARGET_THREAD;
  o.tid = child;
  int calls = 0;
  o.callback = on_hit;
  o.user = &calls;
  hwbp_watch* w = nullptr;
  EXPECT_EQ(hwbp_watch_create(&o, &w), HWBP_E_INVALID_REQUEST);
  EXPECT_EQ(w, nullptr);
  EXPECT_NE(std::string(hwbp_last_error()).find("is not a thread of this process"), std::string::npos)
      << hwbp_last_error();
  int status = 0;
  EXPECT_EQ(waitpid(child, &status, WNOHANG), 0) << "the other process died";
  kill(child, SIGKILL);
  waitpid(child, &status, 0);
  for (int kind : {-1, 3, 7, 1000}) {
    std::memcpy(&o.target, &kind, sizeof kind);
    EXPECT_EQ(hwbp_watch_create(&o, &w), HWBP_E_INVALID_REQUEST) << kind;
    EXPECT_NE(std::string(hwbp_last_error()).find("unknown target kind " + std::to_string(kind)),
              std::string::npos) << hwbp_last_error();
  }
}

TEST(CApi, OptionsCarryTheirSize) {
  hwbp_watch* w = nullptr;
  // A caller built against a newer header: its extra fields are accepted while they are 0...
  struct Newer {
    hwbp_options known;
    uint64_t future_field;
  } newer{};
  newer.known = HWBP_OPTIONS_INIT;
  newer.known.size = sizeof newer;
  newer.known.addr = reinterpret_cast<uintptr_t>(&g_x);
  newer.known.len = sizeof g_x;
  newer.known.access = HWBP_WRITE;
  newer.known.target = HWBP_TARGET_THREAD;
  ASSERT_EQ(hwbp_watch_create(&newer.known, &w), HWBP_OK) << hwbp_last_error();
  hwbp_watch_destroy(w);
  // ...and refused, saying why, once one is set: this library cannot do what it asks.
  newer.future_field = 1;
  EXPECT_EQ(hwbp_watch_create(&newer.known, &w), HWBP_E_INVALID_REQUEST);
  EXPECT_NE(std::string(hwbp_last_error()).find("does not know"), std::string::npos) << hwbp_last_error();
  // An older caller: the later fields are read as 0. Size of the second version (no engine):
  // an engine set beyond it is never read, so the watch is automatic. Where hits are not
  // delivered, a hardware engine would be refused; where they are, a page engine would take it
  // off the debug registers.
  hwbp_options old = HWBP_OPTIONS_INIT;
  old.addr = reinterpret_cast<uintptr_t>(&g_x);
  old.len = sizeof g_x;
  old.access = HWBP_WRITE;
  old.target = HWBP_TARGET_THREAD;
  old.engine = hwbp::perf::hits_delivered() ? HWBP_ENGINE_PAGE : HWBP_ENGINE_HARDWARE;  // beyond its size
  old.size = HWBP_OPTIONS_SIZE_VER1;
  w = nullptr;
  ASSERT_EQ(hwbp_watch_create(&old, &w), HWBP_OK) << hwbp_last_error();
  hwbp_mechanism mechanism{};
  ASSERT_EQ(hwbp_watch_mechanism(w, &mechanism, nullptr), HWBP_OK);
  EXPECT_EQ(mechanism, hwbp::perf::hits_delivered() ? HWBP_MECHANISM_DEBUG_REGISTERS
                                                    : HWBP_MECHANISM_PAGE_PROTECTION);
  hwbp_watch_destroy(w);
  // Size of the first version: `flexible` set beyond it is never read, so the watch is pinned.
  old.size = HWBP_OPTIONS_SIZE_VER0;
  old.flexible = 1;
  ASSERT_EQ(hwbp_watch_create(&old, &w), HWBP_OK) << hwbp_last_error();
  const char* reason = nullptr;
  ASSERT_EQ(hwbp_watch_mechanism(w, &mechanism, &reason), HWBP_OK);
  ASSERT_NE(reason, nullptr);
  EXPECT_EQ(std::string(reason).find("flexible"), std::string::npos) << reason;
  hwbp_watch_destroy(w);
  // A known engine value only.
  old = HWBP_OPTIONS_INIT;
  old.addr = reinterpret_cast<uintptr_t>(&g_x);
  old.len = sizeof g_x;
  old.access = HWBP_WRITE;
  int bad_engine = 9;
  std::memcpy(&old.engine, &bad_engine, sizeof bad_engine);
  EXPECT_EQ(hwbp_watch_create(&old, &w), HWBP_E_INVALID_REQUEST);
  EXPECT_NE(std::string(hwbp_last_error()).find("unknown engine 9"), std::string::npos) << hwbp_last_error();
  old.size = 4;
  EXPECT_EQ(hwbp_watch_create(&old, &w), HWBP_E_INVALID_REQUEST);
  EXPECT_NE(std::string(hwbp_last_error()).find("HWBP_OPTIONS_INIT"), std::string::npos);
}

TEST(CApi, FlexibleWatchesRotateAndReportCoverage) {
  HWBP_REQUIRE_HITS();  // flexible watches rotate over the debug registers only
  // More watches than a thread has slots: the C API reaches the rotation like the C++ one.
  static volatile long vars[6];
  std::vector<hwbp_watch*> ws;
  for (auto& v : vars) {
    hwbp_options o = HWBP_OPTIONS_INIT;
    o.addr = reinterpret_cast<uintptr_t>(&v);
    o.len = sizeof v;
    o.access = HWBP_WRITE;
    o.target = HWBP_TARGET_THREAD;
    o.flexible = 1;
    hwbp_watch* w = nullptr;
    ASSERT_EQ(hwbp_watch_create(&o, &w), HWBP_OK) << hwbp_last_error();
    ws.push_back(w);
  }
  ASSERT_EQ(hwbp_set_rotation_interval(200), HWBP_OK);
  usleep(20000);
  int enabled = 0;
  for (hwbp_watch* w : ws) {
    double coverage = -1;
    ASSERT_EQ(hwbp_watch_coverage(w, &coverage), HWBP_OK) << hwbp_last_error();
    EXPECT_GE(coverage, 0.0);
    EXPECT_LT(coverage, 1.0);  // six watches, at most four slots: nobody is armed all the time
    ASSERT_EQ(hwbp_watch_enabled(w, &enabled), HWBP_OK);
    EXPECT_EQ(enabled, 1);
  }
  for (hwbp_watch* w : ws) hwbp_watch_destroy(w);
  ASSERT_EQ(hwbp_set_rotation_interval(5000), HWBP_OK);
}

TEST(CApi, AllCpusTargetCountsOrSaysWhy) {
  hwbp_options o = HWBP_OPTIONS_INIT;
  o.addr = reinterpret_cast<uintptr_t>(&g_x);
  o.len = sizeof g_x;
  o.access = HWBP_WRITE;
  hwbp_watch* w = nullptr;
  o.target = static_cast<hwbp_target_kind>(7);
  EXPECT_EQ(hwbp_watch_create(&o, &w), HWBP_E_INVALID_REQUEST);
  EXPECT_NE(std::string(hwbp_last_error()).find("unknown target kind 7"), std::string::npos);
  o.target = HWBP_TARGET_ALL_CPUS;
  o.callback = on_hit;  // CPU-bound events send no signal
  EXPECT_EQ(hwbp_watch_create(&o, &w), HWBP_E_INVALID_REQUEST);
  EXPECT_NE(std::string(hwbp_last_error()).find("CPU-wide"), std::string::npos) << hwbp_last_error();
  o.callback = nullptr;
  int rc = hwbp_watch_create(&o, &w);
  if (!hwbp::perf::hits_delivered()) {  // it would count nothing: refused, saying why
    EXPECT_EQ(rc, HWBP_E_UNSUPPORTED) << hwbp_last_error();
    EXPECT_NE(std::string(hwbp_last_error()).find("CPU-wide"), std::string::npos) << hwbp_last_error();
    return;
  }
  if (rc == HWBP_E_PERMISSION) GTEST_SKIP() << "CPU-wide watches need CAP_PERFMON: " << hwbp_last_error();
  ASSERT_EQ(rc, HWBP_OK) << hwbp_last_error();
  uint64_t hits = 1;
  ASSERT_EQ(hwbp_watch_hits(w, &hits), HWBP_OK);
  EXPECT_EQ(hits, 0u);
  hwbp_watch_destroy(w);
}

TEST(CApi, SlotsNeededWithoutArming) {
  size_t slots = 0;
  ASSERT_EQ(hwbp_slots_needed(0x1003, 13, HWBP_WRITE, &slots), HWBP_OK);
  EXPECT_EQ(slots, 3u);  // 1 + 4 + 8 bytes on x86-64
  EXPECT_EQ(hwbp_slots_needed(0, 8, HWBP_WRITE, &slots), HWBP_E_INVALID_REQUEST);
}

}  // namespace
