// The page engine's pure bookkeeping: reference-counted pages, program protection, which
// watches a store touches (once each), the modify/w filter and the refused access kinds.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <vector>

#include "core/page_set.hpp"
#include "hwbp/error.hpp"

namespace hwbp::core {
namespace {

constexpr std::uint64_t P = 4096;

struct Touch {
  std::uint64_t id, start, end;
  bool operator==(const Touch&) const = default;
};

std::vector<Touch> touched(const PageSet& s, std::uint64_t addr, std::uint64_t len) {
  std::vector<Touch> out;
  s.for_each_touched(addr, len, [&](const PageWatch& w, std::uint64_t a, std::uint64_t e) { out.push_back({w.id, a, e}); });
  std::sort(out.begin(), out.end(), [](const Touch& a, const Touch& b) { return a.id < b.id; });
  return out;
}

TEST(PageSet, PagesAreReferenceCounted) {
  PageSet s;
  auto fresh = s.add({1, 10 * P + 100, 8, Access::write});
  EXPECT_EQ(fresh, (std::vector<PageRange>{{10 * P, P}}));
  EXPECT_TRUE(s.add({2, 10 * P + 200, 8, Access::modify}).empty());  // same page: already ours
  EXPECT_EQ(s.page_count(), 1u);
  EXPECT_TRUE(s.remove(1).empty());  // watch 2 still needs it
  EXPECT_TRUE(s.protects(10 * P));
  EXPECT_EQ(s.remove(2), (std::vector<PageRange>{{10 * P, P}}));
  EXPECT_FALSE(s.protects(10 * P));
  EXPECT_TRUE(s.remove(3).empty());
}

TEST(PageSet, LongWatchSpansPagesAsOneRange) {
  PageSet s;
  auto fresh = s.add({1, 4 * P - 1, 2 * P + 2, Access::write});  // last byte of page 3 .. first of page 6
  EXPECT_EQ(fresh, (std::vector<PageRange>{{3 * P, 4 * P}}));
  auto more = s.add({2, 2 * P, 3 * P, Access::write});  // pages 2..4: only page 2 is new
  EXPECT_EQ(more, (std::vector<PageRange>{{2 * P, P}}));
  EXPECT_EQ(s.protected_ranges(), (std::vector<PageRange>{{2 * P, 5 * P}}));
  auto freed = s.remove(1);
  EXPECT_EQ(freed, (std::vector<PageRange>{{5 * P, 2 * P}}));
}

TEST(PageSet, StoreTouchesEachWatchOnceWithTheOverlap) {
  PageSet s;
  s.add({1, 1000, 8, Access::write});
  s.add({2, 1004, 8, Access::write});     // overlaps watch 1
  s.add({3, 2000, 1 << 20, Access::write});  // long
  s.add({4, 1100, 4, Access::write});
  EXPECT_EQ(touched(s, 1006, 4), (std::vector<Touch>{{1, 1006, 1008}, {2, 1006, 1010}}));
  EXPECT_EQ(touched(s, 996, 4), std::vector<Touch>{});     // ends right before
  EXPECT_EQ(touched(s, 1008, 4), (std::vector<Touch>{{2, 1008, 1012}}));
  EXPECT_EQ(touched(s, 1012, 88), std::vector<Touch>{});   // between watches 2 and 4
  // One long store over the whole region: each watch once.
  EXPECT_EQ(touched(s, 0, 5000),
            (std::vector<Touch>{{1, 1000, 1008}, {2, 1004, 1012}, {3, 2000, 5000}, {4, 1100, 1104}}));
  // Far inside the long watch: found although it starts long before.
  EXPECT_EQ(touched(s, 500000, 8), (std::vector<Touch>{{3, 500000, 500008}}));
  EXPECT_EQ(s.watches_in(1000, 1), (std::vector<std::uint64_t>{1}));
}

TEST(PageSet, ManyWatches) {
  PageSet s;
  for (std::uint64_t i = 0; i < 10000; ++i) s.add({i + 1, 100 * P + i * 16, 8, Access::write});
  EXPECT_EQ(touched(s, 100 * P + 5000 * 16 + 4, 16), (std::vector<Touch>{{5001, 100 * P + 5000 * 16 + 4, 100 * P + 5000 * 16 + 8},
                                                                        {5002, 100 * P + 5001 * 16, 100 * P + 5001 * 16 + 4}}));
  EXPECT_EQ(s.page_count(), (10000 * 16 + P - 1) / P);
}

TEST(PageSet, ProgramProtectionDecidesWhoseFaultItIs) {
  PageSet s;
  s.add({1, 10 * P, 3 * P, Access::write});
  s.set_program_protection({10 * P, 3 * P}, PROT_READ | PROT_WRITE);
  EXPECT_EQ(s.program_protection(11 * P + 5), PROT_READ | PROT_WRITE);
  s.set_program_protection({12 * P, P}, PROT_READ | PROT_WRITE | PROT_EXEC);
  EXPECT_FALSE(s.program_protection(13 * P).has_value());
  EXPECT_TRUE(s.store_is_ours(11 * P, 8));
  EXPECT_TRUE(s.store_is_ours(13 * P - 4, 8));   // crosses into a page that is not ours
  EXPECT_FALSE(s.store_is_ours(20 * P, 8));      // not ours at all
  s.set_program_protection({11 * P, P}, PROT_READ);  // the program made it read-only itself
  EXPECT_FALSE(s.store_is_ours(11 * P, 8));
  EXPECT_FALSE(s.store_is_ours(11 * P - 4, 8));  // crosses into the program's read-only page
  EXPECT_TRUE(s.overlaps_protected(9 * P, P + 1));
  EXPECT_FALSE(s.overlaps_protected(9 * P, P));
  // Freed pages come back with the protection to restore, split where it differs.
  EXPECT_EQ(s.remove(1), (std::vector<PageRange>{{10 * P, P, PROT_READ | PROT_WRITE},
                                                 {11 * P, P, PROT_READ},
                                                 {12 * P, P, PROT_READ | PROT_WRITE | PROT_EXEC}}));
}

TEST(PageSet, ForgottenPagesAreNotOursAndNotHandedBack) {
  PageSet s;
  s.add({1, 10 * P, 3 * P, Access::write});
  s.set_program_protection({10 * P, 3 * P}, PROT_READ | PROT_WRITE);
  s.forget(11 * P, P);  // the program unmapped the middle page
  EXPECT_FALSE(s.protects(11 * P));
  EXPECT_TRUE(s.protects(10 * P));
  EXPECT_FALSE(s.overlaps_protected(11 * P, P));
  EXPECT_EQ(s.protected_ranges(), (std::vector<PageRange>{{10 * P, P}, {12 * P, P}}));
  EXPECT_EQ(s.remove(1), (std::vector<PageRange>{{10 * P, P, PROT_READ | PROT_WRITE}, {12 * P, P, PROT_READ | PROT_WRITE}}));
  EXPECT_EQ(s.page_count(), 0u);
}

TEST(PageSet, APageMappedAgainAfterItWasForgottenIsFreshForTheNextWatch) {
  PageSet s;
  s.add({1, 10 * P, P, Access::write});  // watch 1 ends: its memory was unmapped
  s.forget(10 * P, P);
  EXPECT_EQ(s.add({2, 10 * P, 8, Access::write}), (std::vector<PageRange>{{10 * P, P}}))
      << "new memory at the same address must be protected for watch 2";
  EXPECT_TRUE(s.protects(10 * P));
  EXPECT_TRUE(s.remove(1).empty()) << "the ended watch hands nothing back: watch 2 still needs the page";
  EXPECT_EQ(s.remove(2).size(), 1u);
}

TEST(PageSet, ModifyReportsChangedBytesOnly) {
  const std::uint8_t a[] = {1, 2, 3}, b[] = {1, 2, 3}, c[] = {1, 9, 3};
  EXPECT_TRUE(page_should_report(Access::write, a, b));
  EXPECT_FALSE(page_should_report(Access::modify, a, b));
  EXPECT_TRUE(page_should_report(Access::modify, a, c));
}

TEST(PageSet, RefusesWhatItCannotWatchExactly) {
  PageSet s;
  for (Access a : {Access::read, Access::read_write, Access::exec}) {
    EXPECT_NE(page_refusal_reason(a), nullptr);
    try {
      s.add({1, P, 8, a});
      FAIL() << "accepted " << to_string(a);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_request);
      EXPECT_NE(std::string(e.what()).find("page engine"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(s.add({1, P, 0, Access::write}), Error);
  EXPECT_THROW(s.add({1, ~0ull - 4, 8, Access::write}), Error);
  s.add({1, P, 8, Access::write});
  EXPECT_THROW(s.add({1, 2 * P, 8, Access::write}), Error);  // duplicate id
  EXPECT_EQ(s.watch_count(), 1u);
}

}  // namespace
}  // namespace hwbp::core
