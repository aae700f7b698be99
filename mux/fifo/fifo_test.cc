// Copyright 2026 The Picos for C++ Authors.
//
// What only the FIFO scheduler promises: FIFO order, canceled fibers first, quota, fatal
// error handling, several instances, nesting, and the stall warning. The scheduler-agnostic
// contract is tested through the conformance matrix (picos/core_test.cc).

#include "mux/fifo/fifo.h"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "picos/picos.h"

namespace picos::mux::fifo {
namespace {

using namespace std::chrono_literals;

// ThreadSanitizer makes every synchronisation ~10-50x slower: big loops shrink there.
#if defined(__SANITIZE_THREAD__)
constexpr int kScale = 10;
#else
constexpr int kScale = 1;
#endif

struct Fatal : std::runtime_error {
  Fatal() : std::runtime_error("fatal") {}
};
struct Exit : std::runtime_error {
  Exit() : std::runtime_error("Exit") {}
};

void spawn(absl::AnyInvocable<void()> main) {
  Fiber::spawn(Fiber::create(PackedComputation()), std::move(main));
}

TEST(FifoTest, RunsReadyFibersInFifoOrder) {
  std::vector<int> order = run([] {
    std::vector<int> order;
    for (int i = 0; i < 5; ++i) {
      spawn([&order, i] {
        order.push_back(i);
        Fiber::yield();
        order.push_back(10 + i);
      });
    }
    Fiber::yield();  // every child runs its first half, in spawn order
    order.push_back(-1);
    Fiber::yield();
    return order;
  });
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, -1, 10, 11, 12, 13, 14}));
}

TEST(FifoTest, ChildFirstRunsTheChildBeforeSpawnReturnsAndTheSpawnerBeforeOthers) {
  Options o;
  o.child_first = true;
  std::vector<std::string> order = run(
      [] {
        std::vector<std::string> order;
        spawn([&] {
          order.push_back("queued runs");
        });  // child first: runs to completion inside spawn
        order.push_back("after first spawn");
        spawn([&] {
          order.push_back("child starts");
          Fiber::yield();  // the spawner is ahead of it now
          order.push_back("child resumes");
        });
        order.push_back("spawner continues");
        Fiber::yield();
        order.push_back("spawner after yield");
        Fiber::yield();
        return order;
      },
      o);
  EXPECT_EQ(order, (std::vector<std::string>{"queued runs", "after first spawn", "child starts",
                                             "spawner continues", "child resumes",
                                             "spawner after yield"}));
}

TEST(FifoTest, ChildFirstQueuesTheChildWhileTheSpawnerHandlesAnException) {
  Options o;
  o.child_first = true;
  std::vector<std::string> order = run(
      [] {
        std::vector<std::string> order;
        try {
          throw std::runtime_error("x");
        } catch (const std::exception&) {
          // Switching fibers here would let another fiber's catch corrupt this one's.
          spawn([&] { order.push_back("child"); });
          order.push_back("in catch");
        }
        Fiber::yield();
        return order;
      },
      o);
  EXPECT_EQ(order, (std::vector<std::string>{"in catch", "child"}));
}

TEST(FifoTest, YieldWithNothingElseReadyDoesNotLeaveTheFiber) {
  // A lone fiber's yields are cheap and keep FIFO fairness once others appear.
  std::vector<int> order = run([] {
    std::vector<int> order;
    for (int i = 0; i < 3; ++i) Fiber::yield();
    spawn([&] { order.push_back(1); });
    order.push_back(0);
    Fiber::yield();
    order.push_back(2);
    return order;
  });
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST(FifoTest, CanceledFiberIsResumedBeforeOtherReadyFibers) {
  std::vector<std::string> order = run([] {
    std::vector<std::string> order;
    Computation<void> victim;
    Trigger never;
    Fiber::spawn(Fiber::create(victim), [&] {
      EXPECT_NE(never.await(), nullptr);
      order.push_back("victim");
    });
    Fiber::yield();  // victim is now suspended on `never`
    spawn([&] { order.push_back("a"); });
    spawn([&] { order.push_back("b"); });
    victim.cancel(std::make_exception_ptr(Exit()));  // resume goes to the head of the queue
    Fiber::yield();
    Fiber::yield();
    return order;
  });
  EXPECT_EQ(order, (std::vector<std::string>{"victim", "a", "b"}));
}

TEST(FifoTest, QuotaForcesYieldAfterNonSuspendingOperations) {
  Options options;
  options.quota = 2;
  std::vector<std::string> order = run(
      [] {
        std::vector<std::string> order;
        spawn([&] { order.push_back("child"); });  // quota 2 -> 1
        order.push_back("after spawn");
        spawn([&] { order.push_back("child2"); });  // quota 1 -> 0: forced yield
        order.push_back("after second spawn");
        Fiber::yield();
        return order;
      },
      options);
  EXPECT_EQ(order, (std::vector<std::string>{"after spawn", "child", "child2", "after second spawn"}));
  options.quota = 0;
  EXPECT_THROW(run([] {}, options), std::invalid_argument);
  options.quota = -3;
  EXPECT_THROW(run([] {}, options), std::invalid_argument);
}

TEST(FifoTest, IdleSpinIsValidatedAndOptional) {
  Options options;
  options.idle_spin = std::chrono::nanoseconds(-1);
  EXPECT_THROW(run([] {}, options), std::invalid_argument);
  // Spinning or not, a wake-up from another thread is taken.
  for (auto spin : {std::chrono::nanoseconds(0), std::chrono::nanoseconds(std::chrono::milliseconds(5))}) {
    options.idle_spin = spin;
    Trigger t;
    std::thread other([t] {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      t.signal();
    });
    EXPECT_EQ(run([t] { return t.await(); }, options), nullptr);
    other.join();
  }
}

TEST(FifoTest, RunWaitsForEveryFiber) {
  int finished = 0;
  run([&] {
    for (int i = 0; i < 100; ++i) {
      spawn([&] {
        Fiber::sleep(0.001);
        ++finished;
      });
    }
  });
  EXPECT_EQ(finished, 100);
}

TEST(FifoTest, FatalErrorStopsAndRethrowsByDefault) {
  std::atomic<int> yields{0};
  EXPECT_THROW(run([&] {
                 for (int i = 0; i < 100; ++i) {
                   spawn([&] {
                     for (;;) {
                       yields++;
                       Fiber::yield();
                     }
                   });
                 }
                 spawn([] { throw Fatal(); });
                 Trigger never;
                 (void)never.await();
               }),
               Fatal);
  EXPECT_GT(yields.load(), 0);
}

TEST(FifoTest, FatalHandlerThatReturnsLetsTheSchedulerContinue) {
  Options options;
  std::vector<std::string> seen;
  options.fatal_exn_handler = [&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      seen.push_back(ex.what());
    }
  };
  int after = run(
      [] {
        spawn([] { throw Fatal(); });
        Fiber::yield();
        return 7;
      },
      options);
  EXPECT_EQ(after, 7);
  EXPECT_EQ(seen, (std::vector<std::string>{"fatal"}));
}

TEST(FifoTest, FatalHandlerThatCancelsMainAndRethrowsStopsTheScheduler) {
  Computation<void> main_c;
  Options options;
  options.fatal_exn_handler = [&](std::exception_ptr e) {
    main_c.cancel(e);
    std::rethrow_exception(e);
  };
  EXPECT_THROW(run_fiber(
                   Fiber::create(main_c),
                   [&] {
                     main_c.capture([] {
                       for (int i = 0; i < 100; ++i) {
                         spawn([] {
                           for (;;) Fiber::yield();
                         });
                       }
                       spawn([] { throw Fatal(); });
                       for (;;) Fiber::yield();
                     });
                   },
                   options),
               Fatal);
  EXPECT_TRUE(main_c.is_canceled());
}

TEST(FifoTest, TwoSchedulersOnTwoThreadsWakeEachOther) {
  constexpr int kRounds = 10000 / kScale;
  std::atomic<Trigger*> a_box{nullptr}, b_box{nullptr};
  auto side = [](std::atomic<Trigger*>& mine, std::atomic<Trigger*>& peer) {
    run([&] {
      // A second fiber keeps this scheduler busy, so wake-ups arrive while it is not idle too.
      Computation<void> stop;
      Fiber::spawn(Fiber::create(stop), [stop] {
        try {
          for (;;) {
            Fiber::yield();
            std::this_thread::yield();  // let the other thread's scheduler have the core
          }
        } catch (const Exit&) {
        }
      });
      for (int i = 0; i < kRounds; ++i) {
        Trigger t;
        mine.store(new Trigger(t));
        Trigger* other;
        while ((other = peer.exchange(nullptr)) == nullptr) Fiber::yield();
        other->signal();
        delete other;
        EXPECT_EQ(t.await(), nullptr);
      }
      stop.cancel(std::make_exception_ptr(Exit()));
    });
  };
  std::thread b([&] { side(b_box, a_box); });
  side(a_box, b_box);
  b.join();
  delete a_box.exchange(nullptr);
  delete b_box.exchange(nullptr);
}

TEST(FifoTest, IdleSchedulerIsWokenFromAnotherThread) {
  run([] {
    for (int i = 0; i < 100; ++i) {
      Trigger t;
      std::thread signaler([t] {
        std::this_thread::sleep_for(100us);
        t.signal();
      });
      EXPECT_EQ(t.await(), nullptr);
      signaler.join();
    }
  });
}

TEST(FifoTest, NestedRunInsideAFiber) {
  int inner = run([] {
    int outer_child = 0;
    spawn([&] { outer_child = 1; });
    int v = run([] {
      int x = 0;
      spawn([&] { x = 41; });
      Fiber::yield();
      return x + 1;
    });
    Fiber::yield();
    return v + outer_child;
  });
  EXPECT_EQ(inner, 43);
}

TEST(FifoTest, RepeatedRunsDoNotLeakOrInterfere) {
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(run([i] {
                Computation<int> c;
                Fiber::spawn(Fiber::create(c), [c, i] { c.return_value(i); });
                return c.await();
              }),
              i);
  }
}

TEST(FifoTest, StallWarningNamesBlockedFibers) {
  Options options;
  options.stall_warning = 50ms;
  Trigger t;
  std::thread waker([t] {
    std::this_thread::sleep_for(400ms);
    t.signal();
  });
  ::testing::internal::CaptureStderr();
  run([t] { spawn([t] { (void)t.await(); }); }, options);
  std::string err = ::testing::internal::GetCapturedStderr();
  waker.join();
  EXPECT_NE(err.find("1 fiber(s) have been blocked"), std::string::npos) << err;
}

TEST(FifoTest, TimersFireInDeadlineOrder) {
  std::vector<int> order = run([] {
    std::vector<int> order;
    for (int i : {3, 1, 2}) {
      spawn([&order, i] {
        Fiber::sleep(0.005 * i);
        order.push_back(i);
      });
    }
    Fiber::sleep(0.030);
    return order;
  });
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(FifoTest, ManyCompletedTimersDoNotAccumulate) {
  run([] {
    for (int i = 0; i < 100000 / kScale; ++i) {
      Computation<void> c;
      c.cancel_after(3600.0, std::make_exception_ptr(Exit()));
      c.finish();
    }
  });
  SUCCEED();  // ASan's leak checker verifies no entry leaked
}

TEST(FifoTest, MoveOnlyMainAndResult) {
  auto p = run([q = std::make_unique<int>(5)]() mutable { return *q; });
  EXPECT_EQ(p, 5);
}

}  // namespace
}  // namespace picos::mux::fifo
