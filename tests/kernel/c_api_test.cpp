// The C API over real watchpoints: status codes, messages, callbacks, enable/disable/retarget.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "hwbp/hwbp.h"
#include "support/hit_delivery.hpp"

namespace {

volatile long g_x = 0, g_y = 0;
int g_calls = 0;
uint64_t g_last_new = 0;

void on_hit(const hwbp_hit* hit, void* user) {
  ++g_calls;
  g_last_new = hit->new_value;
  *static_cast<int*>(user) += 1;
}

TEST(CApi, CallbackEnableDisableRetarget) {
  HWBP_REQUIRE_HITS();
  int user_count = 0;
  hwbp_options o{};
  o.addr = reinterpret_cast<uintptr_t>(&g_x);
  o.len = sizeof g_x;
  o.access = HWBP_WRITE;
  o.target = HWBP_TARGET_THREAD;
  o.callback = on_hit;
  o.user = &user_count;
  hwbp_watch* w = nullptr;
  ASSERT_EQ(hwbp_watch_create(&o, &w), HWBP_OK) << hwbp_last_error();
  EXPECT_NE(hwbp_watch_id(w), 0u);
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
  hwbp_watch_destroy(w);
  EXPECT_EQ(hwbp_active(), 0);
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

}  // namespace
