// WaitGroup on every scheduler configuration of the conformance matrix (picos_test).

#include "waitgroup/waitgroup.h"

#include <atomic>
#include <memory>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"

namespace example {
namespace {

TEST(WaitGroupTest, WaitsForEveryTask) {
  picos::testing::run([] {
    constexpr int kTasks = 50;
    // Shared with the tasks, which may still be unlocking the group's mutex when wait returns.
    struct State {
      WaitGroup group;
      std::atomic<int> finished{0};
    };
    auto state = std::make_shared<State>();
    state->group.add(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      picos::Fiber::spawn(picos::Fiber::create(picos::PackedComputation()), [state] {
        picos::Fiber::yield();
        state->finished.fetch_add(1);
        state->group.done();
      });
    }
    state->group.wait();  // suspends this fiber until all 50 are done
    EXPECT_EQ(state->finished.load(), kTasks);
  });
}

// No assertion: a wait that suspended would never be woken, so the test would hang and its
// timeout would fail it.
TEST(WaitGroupTest, WaitReturnsAtOnceWithNothingPending) {
  picos::testing::run([] {
    WaitGroup group;
    group.wait();
  });
}

}  // namespace
}  // namespace example
