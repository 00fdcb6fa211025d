#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "hwbp/error.hpp"
#include "hwbp/types.hpp"

namespace hwbp {
namespace {

TEST(AccessParse, ShortAndLongNames) {
  struct Case {
    const char* text;
    Access access;
  };
  const Case cases[] = {
      {"x", Access::exec},      {"exec", Access::exec},     {"w", Access::write},
      {"write", Access::write}, {"rw", Access::read_write}, {"read_write", Access::read_write},
      {"r", Access::read},      {"read", Access::read},     {"modify", Access::modify},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    ASSERT_TRUE(parse_access(c.text).has_value());
    EXPECT_EQ(*parse_access(c.text), c.access);
  }
}

TEST(AccessParse, RejectsUnknownText) {
  for (const char* text :
       {"", "wr", "rwx", "R", "W", "m", "modify ", " x", "readwrite", "execute"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(parse_access(text).has_value());
  }
}

TEST(AccessParse, RejectsEmbeddedNul) {
  EXPECT_FALSE(parse_access(std::string_view("w\0", 2)).has_value());
}

TEST(AccessToString, ShortNamesRoundTrip) {
  EXPECT_STREQ(to_string(Access::exec), "x");
  EXPECT_STREQ(to_string(Access::write), "w");
  EXPECT_STREQ(to_string(Access::read_write), "rw");
  EXPECT_STREQ(to_string(Access::read), "r");
  EXPECT_STREQ(to_string(Access::modify), "modify");
  for (Access a : {Access::exec, Access::write, Access::read_write, Access::read, Access::modify}) {
    EXPECT_EQ(parse_access(to_string(a)), a);
  }
}

TEST(ArchKindToString, Names) {
  EXPECT_STREQ(to_string(ArchKind::x86_64), "x86-64");
  EXPECT_STREQ(to_string(ArchKind::aarch64), "aarch64");
}

TEST(ErrcToString, EveryCodeHasItsName) {
  EXPECT_STREQ(to_string(Errc::invalid_request), "invalid_request");
  EXPECT_STREQ(to_string(Errc::no_slots), "no_slots");
  EXPECT_STREQ(to_string(Errc::permission), "permission");
  EXPECT_STREQ(to_string(Errc::no_such_thread), "no_such_thread");
  EXPECT_STREQ(to_string(Errc::unsupported), "unsupported");
  EXPECT_STREQ(to_string(Errc::invalid_state), "invalid_state");
  EXPECT_STREQ(to_string(Errc::system), "system");
}

TEST(Error, CarriesCodeMessageAndErrno) {
  const Error e(Errc::no_slots, "4 of 4 slots in use", ENOSPC);
  EXPECT_EQ(e.code(), Errc::no_slots);
  EXPECT_EQ(e.sys_errno(), ENOSPC);
  EXPECT_STREQ(e.what(), "4 of 4 slots in use");
  const Error local(Errc::invalid_request, "bad");
  EXPECT_EQ(local.sys_errno(), 0);
}

}  // namespace
}  // namespace hwbp
