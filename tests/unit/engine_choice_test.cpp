// The engine-choice rule (src/core/engine_choice.hpp), without syscalls.
#include "core/engine_choice.hpp"

#include <gtest/gtest.h>

namespace hwbp::core {
namespace {

constexpr EngineFacts kWorking{.hits_delivered = true, .page_engine = true, .uprobes = true, .int3 = true};
constexpr EngineFacts kSilent{.hits_delivered = false, .page_engine = true, .uprobes = false, .int3 = true};

TEST(EngineChoice, AutomaticKeepsDebugRegistersWhenTheyFireAndTheWatchFits) {
  auto c = choose_engine(EngineRequest::automatic, {.access = Access::write, .fits_slots = true}, kWorking);
  ASSERT_TRUE(c.mechanism);
  EXPECT_EQ(*c.mechanism, Mechanism::debug_registers);
  EXPECT_EQ(c.reason, EngineReason::fits_slots);
}

TEST(EngineChoice, AutomaticMovesStoresToPagesWhenSilentOrOverflowing) {
  auto silent = choose_engine(EngineRequest::automatic, {.access = Access::modify}, kSilent);
  ASSERT_TRUE(silent.mechanism);
  EXPECT_EQ(*silent.mechanism, Mechanism::page_protection);
  EXPECT_EQ(silent.reason, EngineReason::hits_not_delivered);

  auto full = choose_engine(EngineRequest::automatic, {.access = Access::write, .fits_slots = false}, kWorking);
  ASSERT_TRUE(full.mechanism);
  EXPECT_EQ(*full.mechanism, Mechanism::page_protection);
  EXPECT_EQ(full.reason, EngineReason::no_free_slot);
}

TEST(EngineChoice, ExecutePrefersUprobesThenInt3ThenRefuses) {
  EngineWatch x{.access = Access::exec, .fits_slots = false};
  EXPECT_EQ(*choose_engine(EngineRequest::automatic, x, kWorking).mechanism, Mechanism::uprobe);
  EXPECT_EQ(*choose_engine(EngineRequest::automatic, x, kSilent).mechanism, Mechanism::int3);
  auto none = choose_engine(EngineRequest::page, x, {.hits_delivered = true, .page_engine = true});
  EXPECT_FALSE(none.mechanism);
  EXPECT_NE(none.refusal.find("uprobe"), std::string::npos);
}

TEST(EngineChoice, LoadsAreRefusedOnThePageEngineWithTheReason) {
  for (Access a : {Access::read, Access::read_write}) {
    auto c = choose_engine(EngineRequest::page, {.access = a}, kWorking);
    EXPECT_FALSE(c.mechanism);
    EXPECT_NE(c.refusal.find("stores only"), std::string::npos) << c.refusal;
    // Automatic where the registers fire and it fits: still served.
    EXPECT_EQ(*choose_engine(EngineRequest::automatic, {.access = a}, kWorking).mechanism,
              Mechanism::debug_registers);
  }
}

TEST(EngineChoice, HardwareRequestIsRefusedWhereDebugExceptionsAreSilent) {
  auto c = choose_engine(EngineRequest::hardware, {.access = Access::write}, kSilent);
  EXPECT_FALSE(c.mechanism);
  EXPECT_EQ(c.reason, EngineReason::hits_not_delivered);
  EXPECT_NE(c.refusal.find("--engine page"), std::string::npos);
  // Where they fire, a hardware request is taken even for a watch the plan could not place:
  // the slot code then says what does not fit.
  EXPECT_EQ(*choose_engine(EngineRequest::hardware, {.access = Access::write, .fits_slots = false}, kWorking)
                 .mechanism,
            Mechanism::debug_registers);
}

TEST(EngineChoice, FlexibleStaysOnDebugRegisters) {
  EngineWatch f{.access = Access::write, .fits_slots = false, .flexible = true};
  auto c = choose_engine(EngineRequest::automatic, f, kWorking);
  EXPECT_EQ(*c.mechanism, Mechanism::debug_registers);
  EXPECT_EQ(c.reason, EngineReason::flexible);
  EXPECT_FALSE(choose_engine(EngineRequest::automatic, f, kSilent).mechanism);
  EXPECT_FALSE(choose_engine(EngineRequest::page, f, kWorking).mechanism);
}

TEST(EngineChoice, PageRequestWithoutAPageEngineIsRefused) {
  auto c = choose_engine(EngineRequest::page, {.access = Access::write}, {.page_engine = false});
  EXPECT_FALSE(c.mechanism);
  EXPECT_FALSE(c.refusal.empty());
}

TEST(EngineChoice, RequestSpellingsRoundTrip) {
  for (auto r : {EngineRequest::automatic, EngineRequest::hardware, EngineRequest::page})
    EXPECT_EQ(parse_engine_request(to_string(r)), r);
  EXPECT_EQ(parse_engine_request("hardware"), EngineRequest::hardware);
  EXPECT_FALSE(parse_engine_request("pages"));
  EXPECT_STREQ(json_name(Mechanism::page_protection), "page_protection");
}

}  // namespace
}  // namespace hwbp::core
