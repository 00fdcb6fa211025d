// `--if EXPR`: the grammar, its one-line errors, and the values it compares (signed integers of
// the watch's width; hex literals as bit patterns of that width).
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "condition.hpp"

namespace hwbp::cli {
namespace {

std::string error_of(const std::string& text) {
  try {
    Condition::parse(text);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(Condition, ComparesOldAndNew) {
  const Condition c = Condition::parse("new > old");
  EXPECT_TRUE(c.eval(1, 2, 8));
  EXPECT_FALSE(c.eval(2, 1, 8));
  EXPECT_FALSE(c.eval(2, 2, 8));
  EXPECT_EQ(c.text(), "new > old");
}

TEST(Condition, EveryOperator) {
  EXPECT_TRUE(Condition::parse("new==5").eval(0, 5, 4));
  EXPECT_TRUE(Condition::parse("new!=5").eval(0, 6, 4));
  EXPECT_TRUE(Condition::parse("new<5").eval(0, 4, 4));
  EXPECT_TRUE(Condition::parse("new<=5").eval(0, 5, 4));
  EXPECT_FALSE(Condition::parse("new<5").eval(0, 5, 4));  // '<=' is not read as '<'
  EXPECT_TRUE(Condition::parse("new>=5").eval(0, 5, 4));
  EXPECT_TRUE(Condition::parse("5 < new").eval(0, 6, 4));  // literal on the left
}

TEST(Condition, AndBindsTighterThanOr) {
  // new==0 || (old==1 && new==2)
  const Condition c = Condition::parse("new==0 || old==1 && new==2");
  EXPECT_TRUE(c.eval(9, 0, 8));
  EXPECT_TRUE(c.eval(1, 2, 8));
  EXPECT_FALSE(c.eval(1, 3, 8));
  EXPECT_FALSE(c.eval(2, 2, 8));
}

TEST(Condition, ValuesAreSignedAtTheWatchesWidth) {
  // A 4-byte watch holding 0xffffffff is -1: new<0 means what it says.
  EXPECT_TRUE(Condition::parse("new<0").eval(0, 0xffffffffu, 4));
  EXPECT_FALSE(Condition::parse("new<0").eval(0, 0xffffffffu, 8));
  EXPECT_TRUE(Condition::parse("new==-1").eval(0, 0xffu, 1));
  // Bits above the width are not part of the value.
  EXPECT_TRUE(Condition::parse("new==1").eval(0, 0x100000001ull, 4));
}

TEST(Condition, HexLiteralsAreBitPatternsOfTheWidth) {
  EXPECT_TRUE(Condition::parse("new==0xffffffff").eval(0, 0xffffffffu, 4));
  EXPECT_TRUE(Condition::parse("new==-1").eval(0, 0xffffffffu, 4));
  EXPECT_TRUE(Condition::parse("new==0xff").eval(0, 0xffu, 1));
  EXPECT_TRUE(Condition::parse("new==0xff").eval(0, 0xffu, 2));    // 0x00ff at 2 bytes: 255
  EXPECT_FALSE(Condition::parse("new==-1").eval(0, 0xffu, 2));     // 255 at 2 bytes, not -1
}

TEST(Condition, EmptyConditionAcceptsEverything) {
  const Condition c;
  EXPECT_TRUE(c.empty());
  EXPECT_TRUE(c.eval(1, 2, 8));
}

TEST(Condition, ErrorsNameTheOffendingTextAndTheForm) {
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("new = 3").find("'new = 3' has no comparison operator"), std::string::npos);
  EXPECT_NE(error_of("value==3").find("'value' is not old, new or an integer"), std::string::npos);
  EXPECT_NE(error_of("new==3x").find("'3x' is not an integer"), std::string::npos);
  EXPECT_NE(error_of("new==99999999999999999999").find("is not an integer"), std::string::npos);
  const std::string e = error_of("new===3");
  EXPECT_NE(e.find("bad --if expression 'new===3'"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos);  // one line
  EXPECT_NE(e.find("e.g. 'new==0 || old>new'"), std::string::npos) << e;  // and the fix
}

}  // namespace
}  // namespace hwbp::cli
