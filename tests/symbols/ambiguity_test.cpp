// Two statics with one name: the resolver must refuse to pick one, and list both.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "symbols/symbol_error.hpp"
#include "symbols/symbol_table.hpp"

static volatile int hwbp_symtest_dup = 1;
volatile int* hwbp_symtest_dup_other();

namespace hwbp::symbols {
namespace {

TEST(SymbolAmbiguity, TwoStaticsOfTheSameNameAreReportedNotGuessed) {
  SymbolTable table(ProcessImage::open(0));
  EXPECT_EQ(table.definitions("hwbp_symtest_dup").size(), 2u);
  try {
    table.resolve("hwbp_symtest_dup");
    FAIL() << "expected an error";
  } catch (const SymbolError& e) {
    EXPECT_EQ(e.symbol_code(), SymbolErrc::ambiguous);
    std::string msg = e.what();
    for (const volatile int* p : {&hwbp_symtest_dup, hwbp_symtest_dup_other()}) {
      char hex[32];
      std::snprintf(hex, sizeof hex, "%p", const_cast<int*>(p));
      EXPECT_NE(msg.find(hex), std::string::npos) << msg << " lacks " << hex;
    }
  }
}

}  // namespace
}  // namespace hwbp::symbols
