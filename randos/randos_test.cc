// Copyright 2026 The Picos for C++ Authors.
//
// What only the randomized scheduler promises: random interleavings that a seed replays,
// PICOS_RANDOS_SEED, the virtual clock, several threads with migration, the seed printed on a
// fatal error. Also: io waits go to randos's own epoll set, which it polls before virtual
// time may jump. What every scheduler promises (fatal errors, stall warning, nested and
// repeated runs, wake-ups from other threads, move-only results, options) is
// mux/scheduler_test.cc, on randos with a fixed seed, with 2 threads and with the virtual
// clock; the scheduler-agnostic contract is the conformance matrix (picos/core_test.cc and
// the //randos:testing_* configurations).

#include "randos/randos.h"

#include <stdlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "io/io.h"
#include "io/testing.h"
#include "mux/testing/scheduler_testing.h"
#include "mux/testing/testing.h"
#include "picos/internal/attributes.h"
#include "picos/picos.h"

namespace picos::randos {
namespace {

using namespace std::chrono_literals;

template <typename F>
Computation<void> fork(F fn) {
  Computation<void> done;
  Fiber::spawn(Fiber::create(done), [done, fn = std::move(fn)]() mutable { done.capture(fn); });
  return done;
}

Options quiet(std::uint64_t seed) {
  Options o;
  o.seed = seed;
  o.print_seed = false;
  return o;
}

// Sets or clears PICOS_RANDOS_SEED for one scope. Only on the test's main thread, between
// runs, while no other thread of the test reads the environment: hence the NOLINTs.
class ScopedSeedEnv {
 public:
  explicit ScopedSeedEnv(const char* value) {
    if (value) {
      setenv(kSeedEnvVar, value, 1);  // NOLINT(concurrency-mt-unsafe)
    } else {
      unsetenv(kSeedEnvVar);  // NOLINT(concurrency-mt-unsafe)
    }
  }
  ~ScopedSeedEnv() { unsetenv(kSeedEnvVar); }  // NOLINT(concurrency-mt-unsafe)
};

// Read through a function the compiler may not analyse: pthread_self() is declared const, and
// a fiber may continue on another thread after any scheduling point (docs/context.md).
PICOS_NOIPA std::thread::id this_thread_id() { return std::this_thread::get_id(); }

// ~50 fibers doing yields, spawns, trigger hand-offs and (virtual) sleeps. Every fiber appends
// its id to the trace each time it runs again after a scheduling point: the trace is the
// interleaving.
std::vector<int> traced_run(const Options& options) {
  std::vector<int> trace;
  run(
      [&trace] {
        constexpr int kFibers = 50;
        std::vector<Trigger> triggers(kFibers / 2);
        std::vector<Computation<void>> done;
        for (int i = 0; i < kFibers; ++i) {
          done.push_back(fork([&trace, &triggers, i] {
            trace.push_back(i);
            for (int k = 0; k < 3; ++k) {
              Fiber::yield();
              trace.push_back(i);
            }
            Trigger& t = triggers[static_cast<std::size_t>(i / 2)];
            if (i % 2 == 0) {
              EXPECT_EQ(t.await(), nullptr);
            } else {
              t.signal();
            }
            trace.push_back(i);
            if (i % 5 == 0) {
              picos::testing::spawn([&trace, i] {
                trace.push_back(1000 + i);
                Fiber::yield();
                trace.push_back(1000 + i);
              });
              trace.push_back(i);
            }
            if (i % 7 == 0) {
              Fiber::sleep(0.001 * (i % 3));
              trace.push_back(i);
            }
          }));
          trace.push_back(-1);
        }
        for (auto& d : done) {
          d.await();
          trace.push_back(-1);
        }
      },
      options);
  return trace;
}

Options traced_options(std::uint64_t seed) {
  Options o = quiet(seed);
  o.virtual_clock = true;  // the sleeps fire at deterministic points
  return o;
}

// ---- randomness and replay -------------------------------------------------------------

TEST(RandosTest, SameSeedReplaysTheSameInterleaving) {
  for (std::uint64_t seed : {1ull, 2ull, 0xDEADBEEFull}) {
    std::vector<int> first = traced_run(traced_options(seed));
    std::vector<int> second = traced_run(traced_options(seed));
    EXPECT_GT(first.size(), 300u);
    EXPECT_EQ(first, second) << "seed " << seed;
  }
}

TEST(RandosTest, DifferentSeedsGiveDifferentInterleavings) {
  std::set<std::vector<int>> seen;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) seen.insert(traced_run(traced_options(seed)));
  EXPECT_EQ(seen.size(), 5u);
}

TEST(RandosTest, WithoutTimersTheRealClockReplaysToo) {
  auto trace = [](std::uint64_t seed) {
    std::vector<int> trace;
    run(
        [&] {
          for (int i = 0; i < 20; ++i) {
            picos::testing::spawn([&trace, i] {
              for (int k = 0; k < 5; ++k) {
                trace.push_back(i);
                Fiber::yield();
              }
            });
          }
        },
        quiet(seed));
    return trace;
  };
  EXPECT_EQ(trace(42), trace(42));
  EXPECT_NE(trace(42), trace(43));
}

// Orders other schedulers happen to give are not promised: across seeds, each shows up.
TEST(RandosTest, AnyReadyFiberMayRunNext) {
  bool child_first = false, parent_first = false;
  bool a_first = false, b_first = false;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    std::vector<char> order = run(
        [] {
          std::vector<char> order;
          picos::testing::spawn([&order] { order.push_back('a'); });
          order.push_back('p');
          picos::testing::spawn([&order] { order.push_back('b'); });
          while (order.size() < 3) Fiber::yield();
          return order;
        },
        quiet(seed));
    child_first = child_first || order[0] == 'a';
    parent_first = parent_first || order[0] == 'p';
    auto a = std::find(order.begin(), order.end(), 'a');
    auto b = std::find(order.begin(), order.end(), 'b');
    (a < b ? a_first : b_first) = true;
  }
  EXPECT_TRUE(child_first);
  EXPECT_TRUE(parent_first);
  EXPECT_TRUE(a_first);
  EXPECT_TRUE(b_first);
}

// The core returns at once from awaiting an already-signaled trigger, without calling the
// scheduler; an await that reaches the scheduler but does not suspend (here: the fiber is
// canceled) is a scheduling point.
TEST(RandosTest, AwaitThatDoesNotSuspendIsASchedulingPoint) {
  bool other_ran_in_between = false;
  for (std::uint64_t seed = 1; seed <= 100 && !other_ran_in_between; ++seed) {
    run(
        [&] {
          bool other = false;
          picos::testing::spawn([&other] { other = true; });
          bool before = other;  // the spawn itself may have let the child run
          Fiber& f = Fiber::current();
          PackedComputation saved = f.get_computation();
          PackedComputation canceled;
          canceled.cancel(std::make_exception_ptr(picos::testing::Exit()));
          f.set_computation(canceled);
          EXPECT_NE(Trigger().await(), nullptr);
          f.set_computation(saved);
          if (!before && other) other_ran_in_between = true;
          while (!other) Fiber::yield();
        },
        quiet(seed));
  }
  EXPECT_TRUE(other_ran_in_between);
}

// ---- seeds -------------------------------------------------------------------------------

TEST(RandosTest, SeedEnvironmentVariableIsUsedWhenNoSeedIsGiven) {
  ScopedSeedEnv env("12345");
  std::uint64_t used = 0;
  Options o = traced_options(0);
  o.seed_out = &used;
  std::vector<int> from_env = traced_run(o);
  EXPECT_EQ(used, 12345u);
  EXPECT_EQ(from_env, traced_run(traced_options(12345)));
  EXPECT_EQ(resolve_seed(Options{}), 12345u);
  Options explicit_seed;
  explicit_seed.seed = 7;
  EXPECT_EQ(resolve_seed(explicit_seed), 7u);  // an explicit seed wins
}

TEST(RandosTest, BadSeedEnvironmentVariableIsRejected) {
  for (const char* bad : {"abc", "12x", "-3", " 4", "99999999999999999999999"}) {
    ScopedSeedEnv env(bad);
    EXPECT_THROW(run([] {}, quiet(0)), std::invalid_argument) << bad;
  }
}

TEST(RandosTest, FreshSeedsDiffer) {
  ScopedSeedEnv env(nullptr);
  std::set<std::uint64_t> seeds;
  for (int i = 0; i < 10; ++i) {
    std::uint64_t used = 0;
    Options o = quiet(0);
    o.seed_out = &used;
    run([] {}, o);
    EXPECT_NE(used, 0u);
    seeds.insert(used);
  }
  EXPECT_EQ(seeds.size(), 10u);
}

TEST(RandosTest, PrintsTheSeedAtTheStartOfEachRun) {
  Options o;
  o.seed = 4242;
  ::testing::internal::CaptureStderr();
  run([] { Fiber::yield(); }, o);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("picos::randos: seed=4242 (replay with PICOS_RANDOS_SEED=4242)"),
            std::string::npos)
      << err;
}

TEST(RandosTest, BadOptionsAreRejected) {
  Options o = quiet(1);
  o.threads = 0;
  EXPECT_THROW(run([] {}, o), std::invalid_argument);
  o.threads = 1;
  o.virtual_tick = -1ns;
  EXPECT_THROW(run([] {}, o), std::invalid_argument);
}

// A huge count used to fail while starting the threads, naming nothing: std::system_error
// once the OS refused one (after starting thousands), or std::bad_alloc.
TEST(RandosTest, MoreThreadsThanTheMaximumAreRejectedBeforeAnyIsStarted) {
  for (int bad : {kMaxThreads + 1, 1'000'000, INT_MAX}) {
    Options o = quiet(1);
    o.threads = bad;
    FiberRef fiber = Fiber::create(PackedComputation());
    try {
      run_fiber(
          fiber, [] {}, o);
      ADD_FAILURE() << "no exception for threads = " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()), "picos::randos: threads must be at most " +
                                           std::to_string(kMaxThreads) + " (got " +
                                           std::to_string(bad) + ")");
    }
    o.threads = 2;
    run_fiber(
        fiber, [] {}, o);  // refused before the fiber was taken
  }
  Options o = quiet(1);
  o.threads = kMaxThreads;
  EXPECT_EQ(run([] { return 42; }, o), 42);
}

// ---- virtual clock -----------------------------------------------------------------------

Options vclock(std::uint64_t seed) {
  Options o = quiet(seed);
  o.virtual_clock = true;
  return o;
}

TEST(RandosVirtualClockTest, LongSleepsReturnAtOnce) {
  // With the real clock this would take a year; the test's timeout is a minute.
  run(
      [] {
        Fiber::sleep(3600.0);
        auto done = fork([] { Fiber::sleep(365 * 24 * 3600.0); });
        Fiber::sleep(24 * 3600.0);
        done.await();
      },
      vclock(1));
}

TEST(RandosVirtualClockTest, TimersFireInDeadlineOrder) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    std::vector<int> order = run(
        [] {
          std::vector<int> order;
          std::vector<Computation<void>> done;
          for (int i : {3, 1, 4, 2, 5}) {
            done.push_back(fork([&order, i] {
              Fiber::sleep(3600.0 * i);
              order.push_back(i);
            }));
          }
          for (auto& d : done) d.await();
          return order;
        },
        vclock(seed));
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 5})) << "seed " << seed;
  }
}

TEST(RandosVirtualClockTest, CancelAfterFiresInVirtualTime) {
  run(
      [] {
        Computation<void> c;
        c.cancel_after(3600.0, std::make_exception_ptr(picos::testing::Exit()));
        c.wait();
        EXPECT_THROW(c.await(), picos::testing::Exit);
      },
      vclock(3));
}

// A timeout races work that sleeps: the earlier deadline wins, whatever the seed.
TEST(RandosVirtualClockTest, TimeoutsAreDecidedByVirtualDeadlines) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    for (double work : {5.0, 20.0}) {
      Computation<int> c = run(
          [work] {
            Computation<int> c;
            c.cancel_after(10.0, std::make_exception_ptr(picos::testing::Exit()));
            Fiber::spawn(Fiber::create(c), [c, work] {
              c.capture([work] {
                Fiber::sleep(work);
                return 1;
              });
            });
            c.wait();
            return c;
          },
          vclock(seed));
      if (work < 10.0) {
        EXPECT_EQ(c.await(), 1) << "seed " << seed;
      } else {
        EXPECT_THROW(c.await(), picos::testing::Exit) << "seed " << seed;
      }
    }
  }
}

TEST(RandosVirtualClockTest, TimeAdvancesByTheTickWhileFibersAreBusy) {
  Options o = vclock(5);
  o.virtual_tick = 1ms;
  int yields = run(
      [] {
        Computation<void> c;
        c.cancel_after(1.0, std::make_exception_ptr(picos::testing::Exit()));
        int yields = 0;
        while (c.is_running()) {
          Fiber::yield();
          ++yields;
        }
        return yields;
      },
      o);
  EXPECT_NEAR(yields, 1000, 3);
}

TEST(RandosVirtualClockTest, HugeDelaysNeverFire) {
  run(
      [] {
        Computation<void> c;
        c.cancel_after(std::chrono::nanoseconds::max(),
                       std::make_exception_ptr(picos::testing::Exit()));
        Fiber::sleep(3600.0);  // the jump goes to this timer, not to "never"
        EXPECT_TRUE(c.is_running());
        c.finish();
      },
      vclock(9));
}

// ---- threads -------------------------------------------------------------------------------

TEST(RandosThreadsTest, TwoThreadsCompleteManyFibersAndMigrateThem) {
  const int n = testing::scaled(10000);
  Options o = quiet(7);
  o.threads = 2;
  std::atomic<int> finished{0};
  std::atomic<int> migrations{0};
  std::mutex mu;
  std::set<std::thread::id> threads;
  run(
      [&] {
        for (int i = 0; i < n; ++i) {
          picos::testing::spawn([&] {
            std::thread::id before = this_thread_id();
            for (int k = 0; k < 3; ++k) {
              Fiber::yield();
              std::thread::id now = this_thread_id();
              if (now != before) migrations++;
              before = now;
            }
            {
              std::lock_guard<std::mutex> lock(mu);
              threads.insert(before);
            }
            finished++;
          });
        }
      },
      o);
  EXPECT_EQ(finished.load(), n);
  EXPECT_GT(migrations.load(), 0);
  EXPECT_EQ(threads.size(), 2u);
}

TEST(RandosThreadsTest, FourThreadsWithTimersAndTriggers) {
  Options o = quiet(11);
  o.threads = 4;
  const int n = testing::scaled(2000);
  std::atomic<int> woken{0};
  run(
      [&] {
        std::vector<Trigger> triggers(static_cast<std::size_t>(n));
        std::vector<Computation<void>> done;
        for (auto& t : triggers) {
          done.push_back(fork([t, &woken] {
            EXPECT_EQ(t.await(), nullptr);
            Fiber::sleep(0.0001);
            woken++;
          }));
        }
        for (auto& t : triggers) {
          t.signal();
          Fiber::yield();
        }
        for (auto& d : done) d.await();
      },
      o);
  EXPECT_EQ(woken.load(), n);
}

TEST(RandosThreadsTest, VirtualClockJumpsOnlyWhenEveryThreadIsIdle) {
  Options o = vclock(13);
  o.threads = 3;
  std::vector<int> order = run(
      [] {
        std::mutex mu;
        std::vector<int> order;
        std::vector<Computation<void>> done;
        for (int i : {2, 1, 3}) {
          done.push_back(fork([&, i] {
            Fiber::sleep(3600.0 * i);
            std::lock_guard<std::mutex> lock(mu);
            order.push_back(i);
          }));
        }
        for (auto& d : done) d.await();
        return order;
      },
      o);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

// ---- io: randos is its own reactor ---------------------------------------------------------

using picos::io::testing::count_open_fds;

// Reads one byte from `fd` in a fiber whose computation is canceled after `deadline`;
// returns the byte, or -1 if the deadline came first.
int read_byte_within(int fd, std::chrono::nanoseconds deadline) {
  Computation<int> c;
  c.cancel_after(deadline, std::make_exception_ptr(picos::testing::Exit()));
  Fiber::spawn(Fiber::create(c), [c, fd] {
    c.capture([fd] {
      char b = 0;
      EXPECT_EQ(io::read(fd, &b, 1), 1);
      return static_cast<int>(static_cast<unsigned char>(b));
    });
  });
  try {
    return c.await();
  } catch (const picos::testing::Exit&) {
    return -1;
  }
}

TEST(RandosIoTest, IoWaitsUseTheSchedulersReactor) {
  (void)io::default_reactor();  // its descriptors live for the whole process
  const int before = count_open_fds();
  run(
      [] {
        ASSERT_NE(installed_handler(), nullptr);
        Reactor* reactor = installed_handler()->reactor();
        ASSERT_NE(reactor, nullptr);
        EXPECT_NE(reactor, &io::default_reactor());
        int p[2];
        io::pipe(p);
        auto writer = fork([&] { io::write_all(p[1], "z", 1); });
        EXPECT_EQ(read_byte_within(p[0], 10s), 'z');
        writer.await();
        io::close(p[0]);
        io::close(p[1]);
      },
      quiet(5));
  EXPECT_EQ(count_open_fds(), before) << "run leaves its epoll set open";
}

TEST(RandosIoTest, VirtualTimeWaitsForIoBetweenItsFibersOnEveryThreadCount) {
  for (int threads : {1, 2, 3}) {
    Options o = vclock(20 + static_cast<std::uint64_t>(threads));
    o.threads = threads;
    run(
        [threads] {
          int p[2];
          io::pipe(p);
          for (int round = 0; round < 20; ++round) {
            auto writer = fork([&] {
              Fiber::sleep(20ms);
              io::write_all(p[1], "w", 1);
            });
            EXPECT_EQ(read_byte_within(p[0], 30s), 'w')
                << "threads " << threads << ", round " << round;
            writer.await();
          }
          io::close(p[0]);
          io::close(p[1]);
        },
        o);
  }
}

TEST(RandosIoTest, ATimerAddedWhileAnotherThreadSleepsInEpollStillFires) {
  // One fiber blocks on a silent pipe with no timer pending: an idle thread sleeps in epoll
  // without limit. Then fibers sleep: virtual time must still move (the sleeper is woken to
  // look again), and the sleeps end in deadline order.
  Options o = vclock(31);
  o.threads = 2;
  std::vector<int> order = run(
      [] {
        int p[2];
        io::pipe(p);
        auto reader = fork([&] {
          char b = 0;
          EXPECT_EQ(io::read(p[0], &b, 1), 1);
        });
        for (int i = 0; i < 10; ++i) Fiber::yield();
        std::mutex mu;
        std::vector<int> order;
        std::vector<Computation<void>> done;
        for (int i : {3, 1, 2}) {
          done.push_back(fork([&, i] {
            Fiber::sleep(i * 1h);
            std::lock_guard<std::mutex> lock(mu);
            order.push_back(i);
          }));
        }
        for (auto& d : done) d.await();
        io::write_all(p[1], "r", 1);
        reader.await();
        io::close(p[0]);
        io::close(p[1]);
        return order;
      },
      o);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

// Fibers passing bytes through pipes, with yields and virtual sleeps in between; the trace is
// the order in which they got their bytes.
std::vector<int> io_traced_run(std::uint64_t seed) {
  std::vector<int> trace;
  run(
      [&trace] {
        constexpr int kPairs = 6;
        std::vector<Computation<void>> done;
        std::vector<std::array<int, 2>> pipes(kPairs);
        for (auto& p : pipes) io::pipe(p.data());
        for (int i = 0; i < kPairs; ++i) {
          done.push_back(fork([&, i] {
            for (int k = 0; k < 3; ++k) {
              char b;
              EXPECT_EQ(io::read(pipes[static_cast<std::size_t>(i)][0], &b, 1), 1);
              trace.push_back(i * 10 + k);
            }
          }));
          done.push_back(fork([&, i] {
            for (int k = 0; k < 3; ++k) {
              if ((i + k) % 2 == 0) Fiber::yield();
              if (k == 1) Fiber::sleep(std::chrono::microseconds(i * 3));
              io::write_all(pipes[static_cast<std::size_t>(i)][1], "b", 1);
            }
          }));
        }
        for (auto& d : done) d.await();
        for (auto& p : pipes) {
          io::close(p[0]);
          io::close(p[1]);
        }
      },
      vclock(seed));
  return trace;
}

TEST(RandosIoTest, SameSeedReplaysAnInterleavingWithIo) {
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    std::vector<int> first = io_traced_run(seed);
    EXPECT_EQ(first.size(), 18u);
    EXPECT_EQ(io_traced_run(seed), first) << "seed " << seed;
  }
}

// ---- fatal errors ------------------------------------------------------------------------

TEST(RandosFatalTest, FatalErrorPrintsTheSeed) {
  Options o;
  o.seed = 77;
  ::testing::internal::CaptureStderr();
  EXPECT_THROW(run([] { picos::testing::spawn([] { throw picos::testing::Fatal(); }); }, o),
               picos::testing::Fatal);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("stopped by a fatal error; seed=77"), std::string::npos) << err;
}

}  // namespace
}  // namespace picos::randos
