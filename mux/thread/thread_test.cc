// Copyright 2026 The Picos for C++ Authors.
//
// What only the thread-per-fiber scheduler promises: every fiber has a thread of its own,
// all of them are joined, only the first fatal error is recorded, the fatal handler runs on
// the failing fiber's thread, timers live on the run's own thread, which is gone after the
// run, and thousands of fibers can be alive at once. What every scheduler promises (fatal
// errors rethrown after the others finish, stall warning, nested, repeated and simultaneous
// runs, forbid, move-only results, options) is mux/scheduler_test.cc, row "thread"; the
// scheduler-agnostic contract is the conformance matrix (picos/core_test.cc, target
// //picos:core_test_thread).

#include "mux/thread/thread.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/scheduler_testing.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"

namespace picos::mux::thread {
namespace {

using namespace std::chrono_literals;

// The number of threads of this process.
int thread_count() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    ++n;
  }
  return n;
}

// The thread count once transient threads of earlier tests are gone.
int baseline_thread_count() {
  int n = thread_count();
  std::this_thread::sleep_for(10ms);
  return std::min(n, thread_count());
}

// A joined thread may stay listed in /proc for a moment after pthread_join returns (the
// kernel wakes the joiner before it reaps the task): wait for the count to settle.
int settled_thread_count(int expected) {
  int n = thread_count();
  for (int i = 0; i < 1000 && n != expected; ++i) {
    std::this_thread::sleep_for(1ms);
    n = thread_count();
  }
  return n;
}

TEST(ThreadTest, EveryFiberHasItsOwnThreadAndCurrentFiber) {
  run([] {
    Fiber* parent = &Fiber::current();
    const auto parent_thread = std::this_thread::get_id();
    Computation<void> done;
    Fiber::spawn(Fiber::create(done), [&, done] {
      done.capture([&] {
        EXPECT_NE(&Fiber::current(), parent);
        EXPECT_NE(std::this_thread::get_id(), parent_thread);
        EXPECT_NE(installed_handler(), nullptr);
      });
    });
    done.await();
  });
}

TEST(ThreadTest, OnlyTheFirstFatalErrorIsRethrown) {
  struct Second : std::runtime_error {
    Second() : std::runtime_error("second") {}
  };
  EXPECT_THROW(run([] {
                 Computation<void> first;
                 Fiber::spawn(Fiber::create(PackedComputation()), [first] {
                   first.finish();
                   throw picos::testing::Fatal();
                 });
                 first.await();
                 Fiber::sleep(0.01);  // ordering only: the first thread has long thrown
                 picos::testing::spawn([] { throw Second(); });
               }),
               picos::testing::Fatal);
}

// The handler runs on the thread of the fiber that failed, one call at a time.
TEST(ThreadTest, FatalHandlerRunsOnTheFailingFibersThreadOneCallAtATime) {
  Options options;
  std::vector<std::string> seen;  // calls of the handler are serialised
  std::atomic<bool> on_fiber_thread{false};
  const auto main_thread = std::this_thread::get_id();
  options.fatal_exn_handler = [&](std::exception_ptr e) {
    on_fiber_thread = std::this_thread::get_id() != main_thread;
    try {
      std::rethrow_exception(std::move(e));
    } catch (const std::exception& ex) {
      seen.push_back(ex.what());
    }
  };
  int after = run(
      [] {
        Computation<void> thrown;
        Fiber::spawn(Fiber::create(PackedComputation()), [thrown] {
          thrown.finish();
          throw picos::testing::Fatal();
        });
        thrown.await();
        picos::testing::spawn([] { throw picos::testing::Fatal(); });
        return 7;
      },
      options);
  EXPECT_EQ(after, 7);
  EXPECT_EQ(seen, (std::vector<std::string>{"fatal", "fatal"}));
  EXPECT_TRUE(on_fiber_thread.load());
}

TEST(ThreadTest, TimersRunOnTheRunsOwnThreadWhichStopsWithTheRun) {
  const int before = baseline_thread_count();
  Computation<void> outlives;  // its timer is still pending when the run ends
  int during = 0;
  run([&] {
    Computation<void> c;
    c.cancel_after(0.005, std::make_exception_ptr(picos::testing::Exit()));
    EXPECT_THROW(c.await(), picos::testing::Exit);
    Fiber::sleep(0.001);
    outlives.cancel_after(3600.0, std::make_exception_ptr(picos::testing::Exit()));
    during = thread_count();
  });
  EXPECT_EQ(during, before + 1);                    // the timer thread (main runs on this thread)
  EXPECT_EQ(settled_thread_count(before), before);  // and no process-wide timer was started
  EXPECT_TRUE(outlives.is_running());
}

TEST(ThreadTest, CancelAfterInterruptsASleepingFiber) {
  run([] {
    Computation<void> c;
    Computation<void> done;
    Fiber::spawn(Fiber::create(c), [c, done] {
      c.capture([] { Fiber::sleep(3600.0); });
      done.finish();
    });
    c.cancel_after(0.005, std::make_exception_ptr(picos::testing::Exit()));
    done.await();
    EXPECT_THROW(c.await(), picos::testing::Exit);
  });
}

TEST(ThreadTest, CanceledSpawnerCannotSpawn) {
  const int before = baseline_thread_count();
  std::atomic<bool> spawned{false};
  Computation<void> c;
  c.cancel(std::make_exception_ptr(picos::testing::Exit()));
  run_fiber(Fiber::create(c), [&] {
    EXPECT_THROW(picos::testing::spawn([&] { spawned = true; }), picos::testing::Exit);
    Fiber::current().forbid([&] {
      // Forbidden: the same fiber may spawn, and that fiber runs.
      Computation<void> child;
      Fiber::spawn(Fiber::create(child), [child] { child.finish(); });
      child.await();
    });
  });
  EXPECT_FALSE(spawned.load());
  EXPECT_EQ(settled_thread_count(before), before);
}

TEST(ThreadTest, ThousandsOfConcurrentlyLiveFibers) {
  const int n = picos::testing::scaled(1000);
  std::atomic<int> started{0}, finished{0};
  Computation<void> gate;
  run([&] {
    for (int i = 0; i < n; ++i) {
      picos::testing::spawn([&] {
        started++;
        gate.wait();
        finished++;
      });
    }
    while (started.load() < n) Fiber::sleep(0.0001);
    EXPECT_EQ(finished.load(), 0);  // all n are alive, each blocked on its own thread
    gate.finish();
  });
  EXPECT_EQ(finished.load(), n);
}

TEST(ThreadTest, ManyShortLivedFibersAreAllJoined) {
  const int before = baseline_thread_count();
  const int n = picos::testing::scaled(2000);
  std::atomic<int> finished{0};
  run([&] {
    for (int i = 0; i < n; ++i) picos::testing::spawn([&] { finished++; });
  });
  EXPECT_EQ(finished.load(), n);
  EXPECT_EQ(settled_thread_count(before), before);
}

}  // namespace
}  // namespace picos::mux::thread
