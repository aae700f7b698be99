// Copyright 2026 The Picos for C++ Authors.
//
// What only multififo promises: several workers, migration, stealing, child first across
// workers, sleeping when idle. What every scheduler promises (fatal errors stopping every
// worker, quota, stall warning, nested and repeated runs, wake-ups from other threads,
// options) is mux/scheduler_test.cc, on multififo with 1, 2 and 4 workers and 2 with child
// first; the scheduler-agnostic contract is the conformance matrix (picos/core_test.cc).

#include "mux/multififo/multififo.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "picos/picos.h"
#include "poller/poller.h"

namespace picos::mux::multififo {
namespace {

using namespace std::chrono_literals;

Options with_threads(int n) {
  Options o;
  o.threads = n;
  return o;
}

Computation<void> fork(absl::AnyInvocable<void()> fn) {
  Computation<void> done;
  auto shared = std::make_shared<absl::AnyInvocable<void()>>(std::move(fn));
  Fiber::spawn(Fiber::create(done), [done, shared] { done.capture([&] { (*shared)(); }); });
  return done;
}

TEST(MultififoTest, RejectsBadOptionsOfItsOwn) {
  EXPECT_THROW(run([] {}, with_threads(-1)), std::invalid_argument);
  Options o = with_threads(2);
  o.idle_spin = std::chrono::nanoseconds(-1);
  EXPECT_THROW(run([] {}, o), std::invalid_argument);
  EXPECT_GE(resolved_threads(Options()), 1);
}

// A huge count used to fail inside the scheduler, naming nothing: std::bad_alloc for the
// workers, or std::system_error once the OS refused a thread (after starting thousands).
TEST(MultififoTest, RejectsMoreThreadsThanTheMaximumBeforeStartingAny) {
  for (int bad : {kMaxThreads + 1, 1'000'000, INT_MAX}) {
    FiberRef fiber = Fiber::create(PackedComputation());
    try {
      run_fiber(
          fiber, [] {}, with_threads(bad));
      ADD_FAILURE() << "no exception for threads = " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()), "picos::mux::multififo: threads must be at most " +
                                           std::to_string(kMaxThreads) + " (got " +
                                           std::to_string(bad) + ")");
    }
    run_fiber(
        fiber, [] {}, with_threads(2));  // refused before the fiber was taken
  }
  EXPECT_THROW(resolved_threads(with_threads(kMaxThreads + 1)), std::invalid_argument);
  EXPECT_EQ(resolved_threads(with_threads(kMaxThreads)), kMaxThreads);
  EXPECT_LE(resolved_threads(Options()), kMaxThreads);
}

TEST(MultififoTest, RunsWithTheMaximumNumberOfThreads) {
  Options o = with_threads(kMaxThreads);
  o.idle_spin = 0ns;
  EXPECT_EQ(run([] { return 42; }, o), 42);
}

// A yield goes through the worker's queue only when another fiber is queued there: that one
// runs first; with nothing else to run the yielder goes on at once, without switching through
// the loop (docs/benchmarks.md, "Yield with nothing else to run").
TEST(MultififoTest, YieldRunsAQueuedFiberFirstAndOtherwiseGoesOn) {
  std::vector<int> order;
  run(
      [&] {
        Computation<void> child = fork([&] { order.push_back(2); });
        order.push_back(1);
        Fiber::yield();  // the child, queued on this worker, runs here
        order.push_back(3);
        for (int i = 0; i < 1000; ++i) Fiber::yield();  // nothing else to run
        order.push_back(4);
        child.await();
      },
      with_threads(1));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
}

TEST(MultififoTest, FibersRunOnSeveralWorkers) {
  std::mutex mu;
  std::set<std::thread::id> seen;
  run(
      [&] {
        std::vector<Computation<void>> done;
        for (int i = 0; i < 200; ++i) {
          done.push_back(fork([&] {
            for (int k = 0; k < 20; ++k) {
              {
                std::lock_guard<std::mutex> lock(mu);
                seen.insert(std::this_thread::get_id());
              }
              volatile long x = 0;
              for (int j = 0; j < 20000; ++j) x = x + j;
              Fiber::yield();
            }
          }));
        }
        for (auto& d : done) d.await();
      },
      with_threads(2));
  EXPECT_EQ(seen.size(), 2u);
}

long fib(int n) {
  if (n < 2) return n;
  Computation<long> left;
  Fiber::spawn(Fiber::create(left), [left, n] { left.capture([n] { return fib(n - 1); }); });
  long right = fib(n - 2);
  return left.await() + right;
}

TEST(MultififoTest, ParallelFibIsCorrectOnEveryWorkerCount) {
  for (int n : {1, 2, 4}) {
    EXPECT_EQ(run([] { return fib(18); }, with_threads(n)), 2584) << n << " workers";
  }
}

TEST(MultififoTest, ChildFirstRunsTheChildBeforeSpawnReturns) {
  for (int threads : {1, 2}) {
    Options o;
    o.threads = threads;
    o.child_first = true;
    // Outside main: on two workers the last children may still be running when main returns
    // (an idle worker may steal the spawner, queued before its child starts, and continue it
    // at once); run returns once every fiber has finished.
    std::atomic<int> ran{0};
    run(
        [threads, &ran] {
          for (int i = 0; i < 1000; ++i) {
            Fiber::spawn(Fiber::create(PackedComputation()), [&ran] { ran.fetch_add(1); });
            // On one worker the child has run to completion.
            if (threads == 1) {
              EXPECT_EQ(ran.load(), i + 1);
            }
          }
        },
        o);
    EXPECT_EQ(ran.load(), 1000) << threads << " workers";
  }
}

TEST(MultififoTest, ChildFirstParallelFibIsCorrect) {
  for (int threads : {1, 2, 4}) {
    Options o;
    o.threads = threads;
    o.child_first = true;
    EXPECT_EQ(run([] { return fib(18); }, o), 2584) << threads << " workers";
  }
}

TEST(MultififoTest, IdleWorkersDoNotSpin) {
  // Main sleeps 300 ms on a timer while three other workers have nothing to do.
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  auto t0 = std::chrono::steady_clock::now();
  run([] { Fiber::sleep(0.3); }, with_threads(4));
  auto wall = std::chrono::steady_clock::now() - t0;
  getrusage(RUSAGE_SELF, &after);
  auto cpu = [](const rusage& r) {
    return std::chrono::seconds(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           std::chrono::microseconds(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
  };
  auto used = cpu(after) - cpu(before);
  // Spinning workers would burn ~3 x 300 ms of CPU; sleeping ones next to nothing.
  EXPECT_LT(used, wall / 4) << "cpu " << std::chrono::duration<double>(used).count() << " s";
}

TEST(MultififoTest, LoneReadyFiberBehindABusyOneIsPickedUp) {
  // Worker 0 runs a fiber that never suspends until the other fiber has run; only an idle
  // worker looking again can run it. There is no assertion: a fiber left unpicked hangs the
  // test, and its timeout fails it.
  run(
      [] {
        std::atomic<bool> ran{false};
        Fiber::spawn(Fiber::create(PackedComputation()), [&] { ran = true; });
        while (!ran.load()) {
          std::this_thread::yield();  // busy, never suspends
        }
      },
      with_threads(2));
}

// Waits until `fd` is readable through the running scheduler's reactor, as //io does.
void wait_readable(int fd) {
  FdInterest w(fd, kFdRead);
  Reactor* reactor = installed_handler()->reactor();
  ASSERT_NE(reactor, nullptr);
  reactor->add(w);
  std::exception_ptr e = w.trigger.await();
  reactor->remove(w);
  ASSERT_EQ(e, nullptr);
}

// With a spin much longer than the test may take, nothing may wait for a spin to end.
Options spinning_long(int threads) {
  Options o = with_threads(threads);
  o.idle_spin = 5s;
  return o;
}

// A ping-pong over two pipes: each hop is a fiber waking on a descriptor while the other
// worker spins. Spinning workers look at the reactor; when only a worker asleep in it did,
// every hop waited for a spin to end (5 s here, 50 µs by default: 67-83 µs per round trip).
TEST(MultififoTest, SpinningWorkersSeeDescriptorsReady) {
  for (ReactorKind kind : {ReactorKind::kEpoll, ReactorKind::kIoUring}) {
    Options o = spinning_long(2);
    o.reactor = kind;
    int there[2], back[2];
    ASSERT_EQ(::pipe2(there, O_NONBLOCK | O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(back, O_NONBLOCK | O_CLOEXEC), 0);
    constexpr int kRoundTrips = 3;
    const auto t0 = std::chrono::steady_clock::now();
    run(
        [&] {
          Computation<void> echo = fork([&] {
            for (int i = 0; i < kRoundTrips; ++i) {
              char c;
              wait_readable(there[0]);
              ASSERT_EQ(::read(there[0], &c, 1), 1);
              ASSERT_EQ(::write(back[1], &c, 1), 1);
            }
          });
          for (int i = 0; i < kRoundTrips; ++i) {
            char c = 'x';
            ASSERT_EQ(::write(there[1], &c, 1), 1);
            wait_readable(back[0]);
            ASSERT_EQ(::read(back[0], &c, 1), 1);
          }
          echo.await();
        },
        o);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 4s) << "6 hops waited for the 5 s spin ("
                        << std::chrono::duration<double>(took).count() << " s)";
    for (int fd : {there[0], there[1], back[0], back[1]}) ::close(fd);
  }
}

// A fiber woken by another thread goes to the queue of the worker it last ran on; that worker,
// spinning, runs it at once instead of when its spin ends (its own queue is looked at).
TEST(MultififoTest, WakeUpFromAnotherThreadEndsTheSpin) {
  std::atomic<std::int64_t> signaled_at{0};
  std::chrono::steady_clock::duration waited{};
  run(
      [&] {
        Trigger t;
        std::thread signaler([&] {
          std::this_thread::sleep_for(50ms);  // the workers are spinning by now
          signaled_at = std::chrono::steady_clock::now().time_since_epoch().count();
          t.signal();
        });
        const std::exception_ptr e = t.await();
        waited = std::chrono::steady_clock::now().time_since_epoch() -
                 std::chrono::steady_clock::duration(signaled_at.load());
        signaler.join();
        EXPECT_EQ(e, nullptr);
      },
      spinning_long(2));
  EXPECT_LT(waited, 2500ms) << "the woken fiber waited for the 5 s spin";
}

// Options::reactor reaches the scheduler's reactor (poller/poller.h): epoll when asked for,
// io_uring where the machine allows it (else epoll, with one line on stderr).
TEST(MultififoTest, ReactorOptionChoosesThePoller) {
  for (ReactorKind kind : {ReactorKind::kEpoll, ReactorKind::kIoUring}) {
    Options o;
    o.threads = 2;
    o.reactor = kind;
    const ReactorKind got = run(
        [] {
          auto* p = dynamic_cast<internal::SharedPoller*>(installed_handler()->reactor());
          return p != nullptr ? p->kind() : ReactorKind::kDefault;
        },
        o);
    const bool uring = kind == ReactorKind::kIoUring && internal::UringPoller::available();
    EXPECT_EQ(got, uring ? ReactorKind::kIoUring : ReactorKind::kEpoll);
  }
}

}  // namespace
}  // namespace picos::mux::multififo
