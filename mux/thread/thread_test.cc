// Copyright 2026 The Picos for C++ Authors.
//
// What only the thread-per-fiber scheduler promises: run waits for every fiber (and joins
// their threads), runs are independent, fatal errors are recorded and rethrown after the
// others finish, timers live on the run's own thread, which is gone after the run, and
// thousands of fibers can be alive at once. The scheduler-agnostic contract is tested through
// the conformance matrix (picos/core_test.cc, target //picos:core_test_thread).

#include "mux/thread/thread.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"

namespace picos::mux::thread {
namespace {

using namespace std::chrono_literals;
using picos::testing::scaled;

struct Fatal : std::runtime_error {
  Fatal() : std::runtime_error("fatal") {}
};
struct Exit : std::runtime_error {
  Exit() : std::runtime_error("Exit") {}
};

void spawn(absl::AnyInvocable<void()> main) {
  Fiber::spawn(Fiber::create(PackedComputation()), std::move(main));
}

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

TEST(ThreadTest, RunWaitsForTransitivelySpawnedFibers) {
  std::atomic<int> finished{0};
  std::atomic<bool> all_on_other_threads{true};
  const auto main_thread = std::this_thread::get_id();
  int result = run([&] {
    for (int i = 0; i < 10; ++i) {
      spawn([&] {
        for (int j = 0; j < 10; ++j) {
          spawn([&] {
            if (std::this_thread::get_id() == main_thread) all_on_other_threads = false;
            Fiber::sleep(0.001);
            finished++;
          });
        }
        finished++;
      });
    }
    return 42;
  });
  EXPECT_EQ(result, 42);
  EXPECT_EQ(finished.load(), 110);
  EXPECT_TRUE(all_on_other_threads.load());
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

TEST(ThreadTest, TwoRunsOnTwoThreadsAreIndependent) {
  Computation<void> release;
  std::atomic<bool> b_started{false}, b_finished{false};
  std::thread b([&] {
    run([&] {
      spawn([&] {
        b_started = true;
        release.wait();
        b_finished = true;
      });
    });
  });
  while (!b_started.load()) std::this_thread::sleep_for(100us);
  // This run does not wait for the other run's blocked fiber.
  int a = run([] {
    Computation<int> c;
    Fiber::spawn(Fiber::create(c), [c] { c.return_value(5); });
    return c.await();
  });
  EXPECT_EQ(a, 5);
  EXPECT_FALSE(b_finished.load());
  release.finish();
  b.join();
  EXPECT_TRUE(b_finished.load());
}

TEST(ThreadTest, RepeatedRunsDoNotLeakOrInterfere) {
  const int before = baseline_thread_count();
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(run([i] {
                Computation<int> c;
                Fiber::spawn(Fiber::create(c), [c, i] {
                  Computation<void> t;
                  t.cancel_after(3600.0, std::make_exception_ptr(Exit()));  // starts a timer
                  c.return_value(i);
                });
                return c.await();
              }),
              i);
  }
  EXPECT_EQ(settled_thread_count(before), before);
}

TEST(ThreadTest, FatalErrorIsRethrownAfterTheOtherFibersFinish) {
  std::atomic<bool> slow_finished{false};
  EXPECT_THROW(run([&] {
                 spawn([&] {
                   Fiber::sleep(0.02);
                   slow_finished = true;
                 });
                 spawn([] { throw Fatal(); });
               }),
               Fatal);
  EXPECT_TRUE(slow_finished.load());
}

TEST(ThreadTest, OnlyTheFirstFatalErrorIsRethrown) {
  struct Second : std::runtime_error {
    Second() : std::runtime_error("second") {}
  };
  EXPECT_THROW(run([] {
                 Computation<void> first;
                 Fiber::spawn(Fiber::create(PackedComputation()), [first] {
                   first.finish();
                   throw Fatal();
                 });
                 first.await();
                 Fiber::sleep(0.01);  // ordering only: the first thread has long thrown
                 spawn([] { throw Second(); });
               }),
               Fatal);
}

TEST(ThreadTest, ExceptionEscapingMainIsFatal) {
  EXPECT_THROW(run_fiber(Fiber::create(PackedComputation()), [] { throw Fatal(); }), Fatal);
  EXPECT_THROW(run_fiber(FiberRef(), [] {}), std::invalid_argument);
  EXPECT_THROW(run_fiber(Fiber::create(PackedComputation()), absl::AnyInvocable<void()>()),
               std::invalid_argument);
}

TEST(ThreadTest, FatalHandlerThatReturnsLetsEverythingContinue) {
  Options options;
  std::vector<std::string> seen;  // calls of the handler are serialised
  std::atomic<bool> on_fiber_thread{false};
  const auto main_thread = std::this_thread::get_id();
  options.fatal_exn_handler = [&](std::exception_ptr e) {
    on_fiber_thread = std::this_thread::get_id() != main_thread;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      seen.push_back(ex.what());
    }
  };
  int after = run(
      [] {
        Computation<void> thrown;
        Fiber::spawn(Fiber::create(PackedComputation()), [thrown] {
          thrown.finish();
          throw Fatal();
        });
        thrown.await();
        spawn([] { throw Fatal(); });
        return 7;
      },
      options);
  EXPECT_EQ(after, 7);
  EXPECT_EQ(seen, (std::vector<std::string>{"fatal", "fatal"}));
  EXPECT_TRUE(on_fiber_thread.load());
}

TEST(ThreadTest, FatalHandlerCanCancelTheOthersToStopTheRun) {
  Computation<void> main_c;
  Options options;
  options.fatal_exn_handler = [&](std::exception_ptr e) {
    main_c.cancel(e);
    std::rethrow_exception(e);
  };
  EXPECT_THROW(run_fiber(
                   Fiber::create(main_c),
                   [&] {
                     main_c.capture([&] {
                       for (int i = 0; i < 10; ++i) {
                         // The children share main's computation: canceling it stops them.
                         Fiber::spawn(Fiber::create(main_c), [] {
                           for (;;) Fiber::yield();
                         });
                       }
                       spawn([] { throw Fatal(); });
                       Trigger never;
                       (void)never.await();
                     });
                   },
                   options),
               Fatal);
  EXPECT_TRUE(main_c.is_canceled());
}

TEST(ThreadTest, TimersRunOnTheRunsOwnThreadWhichStopsWithTheRun) {
  const int before = baseline_thread_count();
  Computation<void> outlives;  // its timer is still pending when the run ends
  int during = 0;
  run([&] {
    Computation<void> c;
    c.cancel_after(0.005, std::make_exception_ptr(Exit()));
    EXPECT_THROW(c.await(), Exit);
    Fiber::sleep(0.001);
    outlives.cancel_after(3600.0, std::make_exception_ptr(Exit()));
    during = thread_count();
  });
  EXPECT_EQ(during, before + 1);  // the timer thread (main runs on this thread)
  EXPECT_EQ(settled_thread_count(before), before);  // and no process-wide timer was started
  EXPECT_TRUE(outlives.is_running());
}

// Counts its live instances: tells when the last exception_ptr to a reason is gone.
struct Counted : std::runtime_error {
  static inline std::atomic<int> live{0};
  Counted() : std::runtime_error("Counted") { live++; }
  Counted(const Counted& o) : std::runtime_error(o) { live++; }
  ~Counted() override { live--; }
};

TEST(ThreadTest, PendingTimersAreReleasedWhenTheRunEnds) {
  Computation<void> outlives;
  run([&] { outlives.cancel_after(3600.0, std::make_exception_ptr(Counted())); });
  EXPECT_EQ(Counted::live.load(), 0);  // the timer's entry (holding the reason) is gone
  EXPECT_TRUE(outlives.is_running());
  outlives.finish();
}

TEST(ThreadTest, CancelAfterInterruptsASleepingFiber) {
  run([] {
    Computation<void> c;
    Computation<void> done;
    Fiber::spawn(Fiber::create(c), [c, done] {
      c.capture([] { Fiber::sleep(3600.0); });
      done.finish();
    });
    c.cancel_after(0.005, std::make_exception_ptr(Exit()));
    done.await();
    EXPECT_THROW(c.await(), Exit);
  });
}

TEST(ThreadTest, CanceledSpawnerCannotSpawn) {
  const int before = baseline_thread_count();
  std::atomic<bool> spawned{false};
  Computation<void> c;
  c.cancel(std::make_exception_ptr(Exit()));
  run_fiber(Fiber::create(c), [&] {
    EXPECT_THROW(spawn([&] { spawned = true; }), Exit);
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
  const int n = scaled(1000);
  std::atomic<int> started{0}, finished{0};
  Computation<void> gate;
  run([&] {
    for (int i = 0; i < n; ++i) {
      spawn([&] {
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
  const int n = scaled(2000);
  std::atomic<int> finished{0};
  run([&] {
    for (int i = 0; i < n; ++i) spawn([&] { finished++; });
  });
  EXPECT_EQ(finished.load(), n);
  EXPECT_EQ(settled_thread_count(before), before);
}

TEST(ThreadTest, NestedRunInsideAFiber) {
  int v = run([] {
    Computation<int> outer;
    Fiber::spawn(Fiber::create(outer), [outer] {
      outer.return_value(run([] {
        Computation<int> inner;
        Fiber::spawn(Fiber::create(inner), [inner] { inner.return_value(41); });
        return inner.await() + 1;
      }));
    });
    return outer.await();
  });
  EXPECT_EQ(v, 42);
}

TEST(ThreadTest, StallWarningCountsBlockedFibers) {
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
  EXPECT_NE(err.find("1 fiber(s) are still alive"), std::string::npos) << err;
  EXPECT_NE(err.find("(1 blocked in await)"), std::string::npos) << err;
}

TEST(ThreadTest, ForbidOptionMasksCancelationOfMain) {
  Options options;
  options.forbid = true;
  EXPECT_TRUE(run([] { return Fiber::current().has_forbidden(); }, options));
  EXPECT_FALSE(run([] { return Fiber::current().has_forbidden(); }));
}

TEST(ThreadTest, MoveOnlyMainAndResult) {
  auto p = run([q = std::make_unique<int>(5)]() mutable { return *q; });
  EXPECT_EQ(p, 5);
  // A move-only result too (it is taken from the main computation, not copied).
  std::unique_ptr<int> r = run([] { return std::make_unique<int>(7); });
  EXPECT_EQ(*r, 7);
}

}  // namespace
}  // namespace picos::mux::thread
