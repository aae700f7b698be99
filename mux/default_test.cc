// Copyright 2026 The Picos for C++ Authors.
// //mux:default and //mux:default_<scheduler> run fibers on their scheduler, with the common
// options mapped onto it (try --//mux:scheduler=fifo).

#include "mux/default.h"

#include <atomic>
#include <cstring>
#include <exception>
#include <stdexcept>

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

TEST(DefaultSchedulerTest, TakesTheCommonOptions) {
  std::atomic<int> fatal{0};
  Options options;
  options.threads = 2;
  options.quota = 1;
  options.stack_size = 128 * 1024;
  options.fatal_exn_handler = [&fatal](const std::exception_ptr&) { fatal.fetch_add(1); };
  int v = run(
      [] {
        // An escaping exception goes to the handler, which lets the run go on.
        Fiber::spawn(Fiber::create(PackedComputation()),
                     [] { throw std::runtime_error("escaped"); });
        Computation<int> sum;
        Fiber::spawn(Fiber::create(sum), [sum] {
          sum.capture([] {
            int s = 0;
            for (int i = 1; i <= 100; ++i) {
              s += i;
              Fiber::yield();
            }
            return s;
          });
        });
        return sum.await();
      },
      options);
  EXPECT_EQ(v, 5050);
  EXPECT_EQ(fatal.load(), 1);
}

TEST(DefaultSchedulerTest, ForbidStartsMainWithPropagationForbidden) {
  Options options;
  EXPECT_FALSE(run([] { return Fiber::current().has_forbidden(); }, options));
  options.forbid = true;
  EXPECT_TRUE(run([] { return Fiber::current().has_forbidden(); }, options));
}

}  // namespace
}  // namespace picos::mux
