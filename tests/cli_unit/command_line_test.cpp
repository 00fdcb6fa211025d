// The split of hwbp's command line (issue 12): after "--", every word is the program's.
#include <gtest/gtest.h>

#include "command_line.hpp"

namespace hwbp::cli {
namespace {

using Words = std::vector<std::string>;
const std::set<std::string> kRun{"run"};

TEST(CommandLine, WordsAfterTheSeparatorAreTheProgramsEvenWhenTheyLookLikeOptions) {
  for (const Words& program : {Words{"/bin/echo", "--help"}, Words{"prog", "-o", "/tmp/x"},
                               Words{"prog", "-w", "x"}, Words{"/bin/ls", "-la", "/"},
                               Words{"prog", "--", "--"}}) {
    Words argv{"hwbp", "run", "-w", "counter", "--"};
    argv.insert(argv.end(), program.begin(), program.end());
    const CommandLine line = split_command_line(argv, kRun);
    EXPECT_EQ(line.command, "run");
    EXPECT_EQ(line.hwbp_words, (Words{"hwbp", "run", "-w", "counter"}));
    EXPECT_EQ(line.program_words, program);
  }
}

TEST(CommandLine, NoSeparatorLeavesEverythingToHwbp) {
  const CommandLine line = split_command_line({"hwbp", "run", "-w", "x", "prog"}, kRun);
  EXPECT_EQ(line.hwbp_words, (Words{"hwbp", "run", "-w", "x", "prog"}));
  EXPECT_TRUE(line.program_words.empty());
}

TEST(CommandLine, OnlyCommandsThatRunAProgramAreSplit) {
  const CommandLine line = split_command_line({"hwbp", "plan", "--", "0x1000:8"}, kRun);
  EXPECT_EQ(line.command, "plan");
  EXPECT_EQ(line.hwbp_words, (Words{"hwbp", "plan", "--", "0x1000:8"}));
  EXPECT_TRUE(line.program_words.empty());
}

TEST(CommandLine, TheCommandIsTheFirstWordThatIsNotAnOption) {
  EXPECT_EQ(split_command_line({"hwbp", "--help", "frobnicate"}, kRun).command, "frobnicate");
  EXPECT_EQ(split_command_line({"hwbp", "--help"}, kRun).command, "");
  EXPECT_EQ(split_command_line({"hwbp"}, kRun).command, "");
  EXPECT_EQ(split_command_line({}, kRun).command, "");
}

}  // namespace
}  // namespace hwbp::cli
