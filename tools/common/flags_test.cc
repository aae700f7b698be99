// Copyright 2026 The Picos for C++ Authors.

#include "tools/common/flags.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "gtest/gtest.h"

ABSL_FLAG(int, flags_test_count, 1, "a flag of the test's own");

namespace {

// Runs parse_command_line over `args` (argv[0] included) and returns the positional ones.
std::vector<std::string> parse(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  std::vector<std::string> rest;
  for (char* r : picos::tools::parse_command_line(static_cast<int>(argv.size()), argv.data())) {
    rest.emplace_back(r);
  }
  return rest;
}

TEST(ParseCommandLine, SetsFlagsAndReturnsThePositionalArguments) {
  EXPECT_EQ(parse({"prog", "--flags_test_count=7", "one", "two"}),
            (std::vector<std::string>{"prog", "one", "two"}));
  EXPECT_EQ(absl::GetFlag(FLAGS_flags_test_count), 7);
}

TEST(ParseCommandLineDeathTest, HelpExitsWithZero) {
  // Abseil's own ParseCommandLine (Debian's 20220623) exits with 1 here.
  EXPECT_EXIT(parse({"prog", "--help"}), testing::ExitedWithCode(0), "");
  EXPECT_EXIT(parse({"prog", "--helpfull"}), testing::ExitedWithCode(0), "");
}

TEST(ParseCommandLineDeathTest, AnUnknownFlagStillExitsWithOne) {
  EXPECT_EXIT(parse({"prog", "--no_such_flag_here=1"}), testing::ExitedWithCode(1),
              "no_such_flag_here");
}

TEST(ParseCommandLineDeathTest, ABadValueStillExitsWithOne) {
  EXPECT_EXIT(parse({"prog", "--flags_test_count=many"}), testing::ExitedWithCode(1),
              "flags_test_count");
}

}  // namespace
