// Copyright 2026 The Picos for C++ Authors.
//
// What only the FIFO scheduler promises: FIFO order, child first, canceled fibers first, and
// idle_spin. What every scheduler promises (fatal errors, quota, stall warning, nested and
// repeated runs, timers, options) is mux/scheduler_test.cc, on fifo, fifo child first and
// fifo with quota 1 among the others; the scheduler-agnostic contract is the conformance
// matrix (picos/core_test.cc).

#include "mux/fifo/fifo.h"

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/scheduler_testing.h"
#include "picos/picos.h"
#include "poller/poller.h"

namespace picos::mux::fifo {
namespace {

using picos::testing::Exit;
using picos::testing::spawn;

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

// Inside a catch block too the child runs at once; it handles exceptions of its own while the
// spawner is suspended in its handler, and the spawner still handles its own afterwards (each
// fiber keeps its exception state, docs/hazards.md; spawn used to queue the child here).
TEST(FifoTest, ChildFirstRunsTheChildAtOnceWhileTheSpawnerHandlesAnException) {
  Options o;
  o.child_first = true;
  std::vector<std::string> order = run(
      [] {
        std::vector<std::string> order;
        try {
          throw std::runtime_error("spawner's");
        } catch (const std::exception&) {
          spawn([&] {
            try {
              throw std::logic_error("child's");
            } catch (const std::logic_error& e) {
              Fiber::yield();  // back to the spawner, still inside both handlers
              order.push_back(e.what());
            }
          });
          order.push_back("in catch");
          try {
            throw;
          } catch (const std::runtime_error& e) {
            order.push_back(e.what());
          }
        }
        Fiber::yield();
        return order;
      },
      o);
  EXPECT_EQ(order, (std::vector<std::string>{"in catch", "spawner's", "child's"}));
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

TEST(FifoTest, IdleSpinIsValidatedAndOptional) {
  Options options;
  options.idle_spin = std::chrono::nanoseconds(-1);
  EXPECT_THROW(run([] {}, options), std::invalid_argument);
  // Spinning or not, a wake-up from another thread is taken.
  for (auto spin :
       {std::chrono::nanoseconds(0), std::chrono::nanoseconds(std::chrono::milliseconds(5))}) {
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

// Options::reactor reaches the scheduler's reactor (poller/poller.h): epoll when asked for,
// io_uring where the machine allows it (else epoll, with one line on stderr).
TEST(FifoTest, ReactorOptionChoosesThePoller) {
  for (ReactorKind kind : {ReactorKind::kEpoll, ReactorKind::kIoUring}) {
    Options o;
    o.reactor = kind;
    const ReactorKind got = run(
        [] {
          auto* p = dynamic_cast<internal::Poller*>(installed_handler()->reactor());
          return p != nullptr ? p->kind() : ReactorKind::kDefault;
        },
        o);
    const bool uring = kind == ReactorKind::kIoUring && internal::UringPoller::available();
    EXPECT_EQ(got, uring ? ReactorKind::kIoUring : ReactorKind::kEpoll);
  }
}

}  // namespace
}  // namespace picos::mux::fifo
