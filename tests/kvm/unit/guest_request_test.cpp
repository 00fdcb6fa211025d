// Request validation for guest linear addresses (src/core) and the RAM regions a VMM describes.
#include <gtest/gtest.h>

#include "core/request.hpp"
#include "core/split.hpp"
#include "kvm/guest_ram.hpp"

namespace hwbp::kvm {
namespace {

using core::Rule;
using core::WatchRequest;

TEST(KvmGuestRequest, AddressZeroAndKernelAddressesAreTheGuests) {
  const core::ArchInfo arch = core::arch_x86_guest(true);
  EXPECT_FALSE(core::validate_guest_range(arch, WatchRequest{0, 4, Access::write}));
  EXPECT_FALSE(core::validate_guest_range(arch, WatchRequest{0xffffffff81000000, 8, Access::write}));
  EXPECT_FALSE(core::validate_guest_range(arch, WatchRequest{0x1000, 1 << 20, Access::write}))
      << "no length bound";
  // The user-space rules still hold for processes.
  EXPECT_TRUE(core::validate_range(core::arch_x86_64(), WatchRequest{0xffffffff81000000, 8, Access::write}));
}

TEST(KvmGuestRequest, LengthWrapAndExecRules) {
  const core::ArchInfo arch = core::arch_x86_guest(true);
  EXPECT_EQ(core::validate_guest_range(arch, WatchRequest{0x1000, 0, Access::write})->rule,
            Rule::zero_length);
  EXPECT_EQ(core::validate_guest_range(arch, WatchRequest{~0ull - 2, 4, Access::write})->rule, Rule::wraps);
  const auto exec = core::validate_guest_range(arch, WatchRequest{0x1000, 8, Access::exec});
  ASSERT_TRUE(exec);
  EXPECT_EQ(exec->rule, Rule::exec_length);
  EXPECT_NE(exec->message.find("pass length 1 on x86-64 guest"), std::string::npos) << exec->message;
}

TEST(KvmGuestRequest, EightByteChunksOnlyInLongMode) {
  const WatchRequest req{0x2000, 16, Access::write};
  const auto long_mode = core::split_range(core::arch_x86_guest(true), req);
  ASSERT_EQ(long_mode.size(), 2u);
  EXPECT_EQ(long_mode[0].len, 8);
  const auto legacy = core::split_range(core::arch_x86_guest(false), req);
  ASSERT_EQ(legacy.size(), 4u);
  EXPECT_EQ(legacy[0].len, 4);
  const auto exec = core::split_range(core::arch_x86_guest(true), WatchRequest{0x1003, 1, Access::exec});
  ASSERT_EQ(exec.size(), 1u);
  EXPECT_EQ(exec[0], (core::Chunk{0x1003, 1, core::HwType::exec}));
}

TEST(KvmGuestRam, RegionsAreCheckedAndLookedUp) {
  alignas(4096) static std::uint8_t a[0x3000], b[0x1000];
  GuestRam ram({{1, 0x10000, 0x1000, b, 0}, {0, 0, 0x3000, a, 0}});
  EXPECT_EQ(ram.host(0x2ff8, 8), a + 0x2ff8);
  EXPECT_EQ(ram.host(0x2ffc, 8), nullptr) << "runs past the region";
  EXPECT_EQ(ram.host(0x10010, 4), b + 0x10);
  EXPECT_EQ(ram.host(0x5000, 1), nullptr);
  auto refused = [](std::vector<RamRegion> r, const char* words) {
    try {
      GuestRam g(std::move(r));
      ADD_FAILURE() << "accepted; expected: " << words;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_request);
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  refused({{0, 0, 0x2000, a, 0}, {1, 0x1000, 0x1000, b, 0}}, "overlaps");
  refused({{0, 0x10, 0x1000, a, 0}}, "not page-aligned");
  refused({{0, 0, 0x1000, nullptr, 0}}, "without host memory");
  refused({{0, 0, 0x1000, a, 0}, {0, 0x1000, 0x1000, b, 0}}, "reuses the memslot number");
}

}  // namespace
}  // namespace hwbp::kvm
