// Copyright 2026 The Picos for C++ Authors.
// //mux:default runs fibers on the build-selected scheduler (try --//mux:scheduler=fifo).

#include "mux/default.h"

#include <cstring>

#include "gtest/gtest.h"
#include "picos/picos.h"

namespace picos::mux {
namespace {

TEST(DefaultSchedulerTest, RunsOnTheSelectedScheduler) {
  const char* name = default_scheduler_name();
  EXPECT_EQ(std::strcmp(name, PICOS_EXPECTED_SCHEDULER), 0) << name;
  int v = run([] {
    Computation<int> c;
    Fiber::spawn(Fiber::create(c), [c] { c.capture([] { return 21; }); });
    return 2 * c.await();
  });
  EXPECT_EQ(v, 42);
}

}  // namespace
}  // namespace picos::mux
