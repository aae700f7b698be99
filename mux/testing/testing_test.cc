// Copyright 2026 The Picos for C++ Authors.
//
// The testing libraries themselves, on every configuration of the matrix: each reports the
// configuration picos_test set (PICOS_TESTING_CONFIG), capabilities that agree with it, and a
// bad setting in the environment aborts the binary at startup with a message.

#include "mux/testing/testing.h"

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "picos/picos.h"

namespace picos::testing {
namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

TEST(TestingTest, ReportsTheConfigurationOfTheTest) {
  const char* config = std::getenv("PICOS_TESTING_CONFIG");
  ASSERT_NE(config, nullptr) << "picos_test sets PICOS_TESTING_CONFIG";
  EXPECT_STREQ(scheduler_name(), config);
}

TEST(TestingTest, CapabilitiesAgreeWithTheConfiguration) {
  const std::string name = scheduler_name();
  const Capabilities& c = capabilities();
  EXPECT_EQ(parallelism(), c.parallelism);
  EXPECT_GE(c.parallelism, 1);
  EXPECT_EQ(c.fibers_are_threads, name == "thread" || name == "nosched") << name;
  EXPECT_EQ(c.virtual_clock, name == "randos_vclock") << name;
  EXPECT_EQ(c.randomized, starts_with(name, "randos")) << name;
  EXPECT_EQ(c.has_reactor, !c.fibers_are_threads) << name;
  if (c.deterministic) {
    EXPECT_EQ(c.parallelism, 1) << name;
  }
  const int threads = name == "multififo_t4" ? 4
                      : name == "multififo_t2" || name == "multififo_t2_cf" || name == "randos_t2"
                          ? 2
                          : 1;
  if (!c.fibers_are_threads) {
    EXPECT_EQ(c.parallelism, threads) << name;
  }
}

TEST(TestingTest, RunsMain) {
  EXPECT_EQ(run([] { return 42; }), 42);
}

// A death test in the "threadsafe" style re-executes this binary, whose testing library reads
// the (modified) environment again at startup.
class TestingDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// The child inherits the environment set here; its startup aborts before the statement (which
// would abort without the message).
TEST_F(TestingDeathTest, UnknownSettingAborts) {
  setenv("PICOS_TESTING_NO_SUCH_SETTING", "1", 1);
  EXPECT_DEATH(std::abort(), "PICOS_TESTING_NO_SUCH_SETTING is not a setting");
  unsetenv("PICOS_TESTING_NO_SUCH_SETTING");
}

TEST_F(TestingDeathTest, ConfigurationOfAnotherSchedulerAborts) {
  const std::string config = scheduler_name();
  setenv("PICOS_TESTING_CONFIG", "no_such_scheduler", 1);
  EXPECT_DEATH(std::abort(), "names no configuration");
  setenv("PICOS_TESTING_CONFIG", config.c_str(), 1);
}

// Where the library reads PICOS_TESTING_THREADS (multififo, randos) the value does not parse;
// elsewhere it is not a setting: an abort naming the variable either way.
TEST_F(TestingDeathTest, BadValueAborts) {
  const char* old = std::getenv("PICOS_TESTING_THREADS");
  const std::string saved = old != nullptr ? old : "";
  setenv("PICOS_TESTING_THREADS", "two", 1);
  EXPECT_DEATH(std::abort(), "picos::testing: PICOS_TESTING_THREADS");
  if (old != nullptr) {
    setenv("PICOS_TESTING_THREADS", saved.c_str(), 1);
  } else {
    unsetenv("PICOS_TESTING_THREADS");
  }
}

}  // namespace
}  // namespace picos::testing
