// Option values CLI11's conversions let through (issue 12): negative or octal counts, NaN or
// negative durations, an empty --if.
#include <gtest/gtest.h>

#include "debug_file_directory.hpp"
#include "option_checks.hpp"
#include "symbols/process_image.hpp"

namespace hwbp::cli {
namespace {

TEST(OptionChecks, Counts) {
  for (const char* ok : {"0", "1", "10", "0x10", "18446744073709551615"}) EXPECT_EQ(check_count(ok), "") << ok;
  for (const char* bad : {"-1", "", " 1", "1.5", "0x", "x1", "010", "18446744073709551616", "+3", "1e3"})
    EXPECT_NE(check_count(bad), "") << bad;
  EXPECT_EQ(check_count("-1"), "'-1' is not a count; pass a whole number >= 0, e.g. 10");
}

TEST(OptionChecks, Seconds) {
  for (const char* ok : {"0", "1", "0.5", "10", "1e3"}) EXPECT_EQ(check_seconds(ok), "") << ok;
  for (const char* bad : {"-1", "nan", "NaN", "inf", "-inf", "", " 1", "1s", "1e10", "-0.5"})
    EXPECT_NE(check_seconds(bad), "") << bad;
  EXPECT_EQ(check_seconds("-1"), "'-1' is negative; pass a number of seconds >= 0, e.g. 10");
  EXPECT_EQ(check_seconds("nan"), "'nan' is not a number of seconds; pass e.g. 10 or 0.5");
}

TEST(OptionChecks, ProcessIds) {
  for (const char* ok : {"1", "1234", "2147483647"}) EXPECT_EQ(check_pid(ok), "") << ok;
  for (const char* bad : {"0", "-1", "", "012", "2147483648", "99999999999", "1x"})
    EXPECT_NE(check_pid(bad), "") << bad;
}

TEST(OptionChecks, Expressions) {
  EXPECT_EQ(check_expression("new==0"), "");
  EXPECT_NE(check_expression(""), "");
  EXPECT_NE(check_expression("  "), "");
}

TEST(OptionChecks, DebugFileDirectoriesAreExistingAbsoluteDirectories) {
  EXPECT_EQ(check_debug_file_directories("/usr"), "");
  EXPECT_EQ(check_debug_file_directories("/usr:/tmp"), "");
  EXPECT_EQ(check_debug_file_directories("/no/such/dir"), "'/no/such/dir' is not a directory");
  EXPECT_EQ(check_debug_file_directories("/etc/passwd"), "'/etc/passwd' is not a directory");
  EXPECT_EQ(check_debug_file_directories("debug"), "'debug' is not an absolute path");
  EXPECT_EQ(check_debug_file_directories("/usr::/tmp"),
            "'/usr::/tmp' has an empty entry; separate directories with one ':'");
  EXPECT_NE(check_debug_file_directories(""), "");
  // What libdwfl is given: the file's own directory and its .debug/ first, as by default.
  EXPECT_EQ(symbols::debuginfo_path(), ":.debug:/usr/lib/debug");
  symbols::set_debug_file_directories("/opt/debug:/usr/lib/debug");
  EXPECT_EQ(symbols::debuginfo_path(), ":.debug:/opt/debug:/usr/lib/debug");
  symbols::set_debug_file_directories("");
  EXPECT_EQ(symbols::debuginfo_path(), ":.debug:/usr/lib/debug");
}

}  // namespace
}  // namespace hwbp::cli
