// Copyright 2026 The Picos for C++ Authors.
//
// lifo's policy (lifo.cc): spawned and woken fibers run most recent first, a yielding fiber
// goes behind every ready one, fibers woken together by the loop keep their order, and no
// fiber starves behind a stream of newer ones. What every scheduler promises is tested in
// //mux:scheduler_test (its "lifo" row) and by the conformance matrix (picos_lifo).

#include "mux/testing/lifo/lifo.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/scheduler_testing.h"
#include "picos/picos.h"

namespace picos::mux::lifo {
namespace {

using picos::testing::spawn;

TEST(LifoTest, SpawnedFibersRunMostRecentFirst) {
  std::vector<int> order = run([] {
    std::vector<int> order;
    for (int i = 0; i < 3; ++i) spawn([&order, i] { order.push_back(i); });
    Fiber::yield();  // behind all three
    return order;
  });
  EXPECT_EQ(order, (std::vector<int>{2, 1, 0}));
}

TEST(LifoTest, AWokenFiberRunsBeforeTheReadyOnes) {
  std::vector<std::string> order = run([] {
    std::vector<std::string> order;
    Trigger t;
    spawn([&order, t] {
      (void)t.await();
      order.push_back("woken");
    });
    Fiber::yield();  // the waiter blocks
    spawn([&order] { order.push_back("ready"); });
    t.signal();
    Fiber::yield();
    return order;
  });
  EXPECT_EQ(order, (std::vector<std::string>{"woken", "ready"}));
}

TEST(LifoTest, AYieldingFiberGoesBehindEveryReadyOne) {
  std::vector<std::string> order = run([] {
    std::vector<std::string> order;
    for (const char* name : {"a", "b"}) {
      spawn([&order, name] {
        order.push_back(std::string(name) + "1");
        Fiber::yield();
        order.push_back(std::string(name) + "2");
      });
    }
    while (order.size() < 4) Fiber::yield();
    return order;
  });
  EXPECT_EQ(order, (std::vector<std::string>{"b1", "a1", "b2", "a2"}));
}

// Both timers are due when the loop looks: their fibers run in deadline order. Each fiber
// notes its own deadline (the two register their sleeps at different times, so on a slow
// machine the later one may well be due first); the order must follow the deadlines. The
// sleeps differ by 25 ms: the deadline a fiber notes is read a moment before the one its
// sleep registers, and two deadlines within that moment (a preemption, a sanitizer's pause)
// could be noted in one order and registered in the other.
TEST(LifoTest, FibersWokenTogetherKeepTheirOrder) {
  using Clock = std::chrono::steady_clock;
  Clock::time_point deadline[2];
  std::vector<int> order = run([&deadline] {
    std::vector<int> order;
    for (int i : {0, 1}) {
      spawn([&order, &deadline, i] {
        const double seconds = i == 0 ? 0.005 : 0.030;
        deadline[i] = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(seconds));
        Fiber::sleep(seconds);
        order.push_back(i);
      });
    }
    Fiber::yield();  // both asleep
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    while (order.size() < 2) Fiber::yield();
    return order;
  });
  const int first = deadline[0] <= deadline[1] ? 0 : 1;
  EXPECT_EQ(order, (std::vector<int>{first, 1 - first}));
}

// Each fiber of an endless chain spawns the next one, which goes to the front; the fiber
// spawned before the chain still runs (and ends it) within 64 spawns.
struct Chain {
  bool* stop;
  int* length;
  Computation<void> done;
  void operator()() const {
    ++*length;
    if (*stop || *length > 100000) {
      done.finish();
      return;
    }
    spawn(Chain(*this));
  }
};

TEST(LifoTest, NewerFibersDoNotStarveOlderOnes) {
  int length = run([] {
    bool stop = false;
    int length = 0;
    Computation<void> done;
    spawn([&stop] { stop = true; });
    spawn(Chain{&stop, &length, done});
    done.await();
    return length;
  });
  EXPECT_LE(length, 65);
}

}  // namespace
}  // namespace picos::mux::lifo
