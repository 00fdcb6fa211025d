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

// Issue 12: new>=18446744073709551615 was read as new>=-1 and matched new=1.
TEST(Condition, DecimalLiteralsBeyondSigned64BitsAreRefused) {
  EXPECT_NE(error_of("new>=18446744073709551615").find("'18446744073709551615' is out of range"),
            std::string::npos);
  EXPECT_NE(error_of("new==9223372036854775808").find("out of range"), std::string::npos);
  EXPECT_NE(error_of("new==-9223372036854775809").find("out of range"), std::string::npos);
  EXPECT_TRUE(Condition::parse("new==-9223372036854775808").eval(0, 0x8000000000000000ull, 8));
  EXPECT_TRUE(Condition::parse("new==9223372036854775807").eval(0, 0x7fffffffffffffffull, 8));
  EXPECT_TRUE(Condition::parse("new==0xffffffffffffffff").eval(0, ~0ull, 8));  // a bit pattern
}

TEST(Condition, LiteralsOutsideTheWatchesWidthAreNamed) {
  EXPECT_EQ(Condition::parse("new==127 || new==-128 || new==0xff").check_width(1), "");
  EXPECT_EQ(Condition::parse("new==200").check_width(1),
            "--if literal 200 is out of range for a 1-byte watch: its values are signed, -128 to "
            "127; for the unsigned value write its bit pattern, 0xc8");
  EXPECT_EQ(Condition::parse("new==-129").check_width(1),
            "--if literal -129 is out of range for a 1-byte watch: its values are signed, -128 to 127");
  EXPECT_EQ(Condition::parse("old<0x1ff").check_width(1),
            "--if literal 0x1ff is out of range for a 1-byte watch: it has more than 8 bits");
  EXPECT_EQ(Condition::parse("new==3000000000").check_width(8), "");
  EXPECT_NE(Condition::parse("new==3000000000").check_width(4), "");
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
  // Found by fuzz/condition_fuzzer: a newline in the expression made the error two lines.
  EXPECT_EQ(error_of("new=\n=3").find('\n'), std::string::npos);
  EXPECT_NE(error_of("new=\n=3").find("'new=\\x0a=3' has no comparison operator"), std::string::npos)
      << error_of("new=\n=3");
  const std::string e = error_of("new===3");
  EXPECT_NE(e.find("bad --if expression 'new===3'"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos);  // one line
  EXPECT_NE(e.find("e.g. 'new==0 || old>new'"), std::string::npos) << e;  // and the fix
}

}  // namespace
}  // namespace hwbp::cli
