// What the guest tests share: the guest's labels, and skips decided by the library's own probe
// (which measures what the backend delivers) with the reason it gives.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "hwbp/kvm.hpp"
#include "kvm_test_support.hpp"
#include "support/test_vmm.hpp"

extern "C" {
extern const char g_selftest[], g_sw_bp[], g_hw_bp[], g_store[], g_write_data[], g_ss_start[], g_bd_start[];
extern const char g_sizes[], g_after_byte[], g_after_word[], g_after_long[], g_after_quad[], g_after_read[];
extern const char g_loop[], g_loop_bp[];
extern const char g_guest_bp_setup[], g_guest_bp_target[];
extern const char g_guest_tf[], g_tf_1[], g_tf_2[], g_tf_3[], g_tf_4[], g_tf_5[], g_tf_6[], g_tf_end[];
extern const char g_icebp[], g_after_icebp[];
extern const char g_shapes[], g_shapes_end[];
extern const char g_reads[], g_count_stores[], g_count_store[], g_count_after[];
extern const char g_remap[], g_remap_store[];
extern const char g_seed[], g_seed_x0[], g_seed_x1[];
extern const char g_unreached[], g_halt[];
}

namespace hwbp::test::kvm {

inline std::uint64_t at(const char* label) { return guest_address(label); }

inline std::string where_it_runs() {
  if (backend().in_test_vm)
    return " — this is the test VM (QEMU TCG's nested SVM); the case runs on kvm_intel/kvm_amd hosts";
  return "";
}

}  // namespace hwbp::test::kvm

// Skips unless the backend delivers `feature`, with the library's own one-line reason.
#define HWBP_KVM_REQUIRE_FEATURE(feature)                                                  \
  do {                                                                                     \
    HWBP_KVM_REQUIRE();                                                                    \
    const ::hwbp::kvm::Capabilities& caps_ = ::hwbp::kvm::probe();                         \
    if (!caps_.has(feature))                                                               \
      GTEST_SKIP() << caps_.missing(feature).what() << ::hwbp::test::kvm::where_it_runs(); \
  } while (0)

// Expects one stop of the given kind, with its description on failure.
#define EXPECT_STOP(stop, expected_kind) \
  ASSERT_EQ((stop).kind, ::hwbp::test::kvm::GuestStop::Kind::expected_kind) << (stop).describe()
