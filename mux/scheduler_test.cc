// Copyright 2026 The Picos for C++ Authors.
//
// The behaviour every scheduler promises through the common options (mux/common/options.h)
// and run/run_fiber (mux/common/run.h), tested once on every scheduler configuration: option
// validation, fatal errors and the fatal handler, the stall warning, run waiting for every
// fiber, nested, repeated and simultaneous runs, wake-ups from other threads, quota, timers,
// forbid, and move-only mains and results. What only one scheduler promises (FIFO order,
// stealing, libevent's event_base, randos' seeds, thread's join chain...) stays in that
// scheduler's own test; the scheduler-agnostic fiber contract is the conformance matrix
// (picos/core_test.cc).
//
// Each configuration is a row of `rows()`: a name, its Capabilities, and type-erased entry
// points that take the common options. Tests branch on capabilities, never on names.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "gtest/gtest.h"
#include "mux/common/options.h"
#include "mux/common/run.h"
#include "mux/context/stack.h"
#include "mux/context/testing.h"
#include "mux/fifo/fifo.h"
#include "mux/libevent/libevent.h"
#include "mux/multififo/multififo.h"
#include "mux/testing/lifo/lifo.h"
#include "mux/testing/scheduler_testing.h"
#include "mux/thread/thread.h"
#include "picos/internal/timer_heap.h"
#include "picos/picos.h"
#include "randos/randos.h"

namespace picos::mux {
namespace {

using namespace std::chrono_literals;

// ThreadSanitizer makes every synchronisation ~10-50x slower: big loops shrink there.
#if defined(__SANITIZE_THREAD__)
constexpr int kScale = 10;
#else
constexpr int kScale = 1;
#endif

// What a configuration promises beyond the common contract; tests check these, not names.
struct Capabilities {
  // A fatal error (the handler throws, by default it rethrows) stops the scheduler at once:
  // unfinished fibers are abandoned and run/run_fiber throw. false: fibers keep running to
  // their end, the first error is recorded and thrown once every fiber has finished (thread).
  bool stops_on_fatal_error = true;
  // Every fiber runs on the thread that called run.
  bool runs_on_one_thread = true;
  // run returns only once every fiber spawned inside (transitively) has finished.
  bool waits_for_all_fibers = true;
  // Takes StackfulOptions: quota and stack_size are validated (quota <= 0 is rejected).
  bool stackful = true;
  // Honours quota: a fiber that performs `quota` operations without suspending is made to
  // yield, so another ready fiber runs.
  bool honours_quota = true;
  // One thread, ready fibers run one at a time in FIFO order, a spawned child queued behind
  // the ready ones (not child first): the order of a run is known exactly.
  bool fifo_order = false;
  // The next fiber to run is picked at random among the ready ones (randos).
  bool random_order = false;
  // Time is the scheduler's own counter (randos' virtual clock): a timer's delay passes as
  // soon as no fiber can run, not in real time.
  bool virtual_clock = false;
  // The stall warning counts fibers blocked with no timer pending: a sleeping fiber never
  // triggers it. false: any fiber alive after main finished does (thread cannot tell).
  bool stall_warning_ignores_timers = true;
  // What the stall warning prints when main has finished and one fiber is blocked in await.
  std::vector<std::string> stall_warning_says = {"1 fiber(s) have been blocked",
                                                 "main has finished"};
  // About to idle, it lets the stack depot release what it keeps beyond its steady capacity
  // once that has gone unused (context::StackPool::release_idle).
  bool releases_unused_stacks = false;
  // Options::child_first: spawn runs the child at once (the spawner continues after it),
  // inside a catch block and during unwinding too.
  bool child_first = false;
};

using UniqueMain = absl::AnyInvocable<std::unique_ptr<int>()>;

struct Row {
  std::string name;  // the test name suffix: letters, digits, underscores
  Capabilities caps;
  // The common options every test starts from (a test changes what it needs).
  StackfulOptions defaults;
  // The scheduler's run_fiber, with the common options copied into its own Options.
  std::function<void(FiberRef, absl::AnyInvocable<void()>, const StackfulOptions&)> run_fiber;
  // The scheduler's own `run`, instantiated for a move-only main with a move-only result.
  std::function<std::unique_ptr<int>(UniqueMain, const StackfulOptions&)> run_unique;
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

// O (a scheduler's Options) from the common options, then `configure` sets its own knobs.
template <typename O>
O to_options(const StackfulOptions& common, const std::function<void(O&)>& configure) {
  O o;
  if constexpr (std::is_base_of_v<StackfulOptions, O>) {
    static_cast<StackfulOptions&>(o) = common;
  } else {
    static_cast<CommonOptions&>(o) = common;  // thread: quota and stack_size do not apply
  }
  if (configure) configure(o);
  return o;
}

template <typename O, typename Run>
Row make_row(std::string name, Capabilities caps,
             void (*run_fiber)(FiberRef, absl::AnyInvocable<void()>, const O&), Run run,
             std::type_identity_t<std::function<void(O&)>> configure = nullptr,
             StackfulOptions defaults = {}) {
  Row row;
  row.name = std::move(name);
  row.caps = std::move(caps);
  row.defaults = std::move(defaults);
  row.run_fiber = [run_fiber, configure](FiberRef f, absl::AnyInvocable<void()> main,
                                         const StackfulOptions& o) {
    run_fiber(std::move(f), std::move(main), to_options<O>(o, configure));
  };
  row.run_unique = [run, configure](UniqueMain main, const StackfulOptions& o) {
    return run(std::move(main), to_options<O>(o, configure));
  };
  return row;
}

// Every configuration under test. To add one: one more make_row below, with the scheduler's
// run_fiber and run, its Capabilities (what differs from the defaults above), a
// function setting its own Options fields, and common options to start from if need be.
std::vector<Row> rows() {
  const Capabilities fifo_like{.fifo_order = true, .releases_unused_stacks = true};
  const Capabilities one_thread{.releases_unused_stacks = true};
  const Capabilities one_thread_child_first{.releases_unused_stacks = true, .child_first = true};
  const Capabilities workers{.runs_on_one_thread = false, .releases_unused_stacks = true};
  // randos validates quota but ignores it.
  const Capabilities randomized{.honours_quota = false, .random_order = true};
  const Capabilities virtual_time{
      .honours_quota = false, .random_order = true, .virtual_clock = true};
  const Capabilities randomized_workers{
      .runs_on_one_thread = false, .honours_quota = false, .random_order = true};
  const Capabilities thread_per_fiber{
      .stops_on_fatal_error = false,
      .runs_on_one_thread = false,
      .stackful = false,
      .honours_quota = false,
      .stall_warning_ignores_timers = false,
      .stall_warning_says = {"1 fiber(s) are still alive", "(1 blocked in await)"},
  };
  StackfulOptions quota1;
  quota1.quota = 1;
  auto workers_of = [](int threads, bool child_first = false) {
    return [threads, child_first](multififo::Options& o) {
      o.threads = threads;
      o.child_first = child_first;
    };
  };
  auto randos_with = [](std::uint64_t seed, int threads, bool virtual_clock) {
    return [=](randos::Options& o) {
      o.seed = seed;
      o.threads = threads;
      o.virtual_clock = virtual_clock;
      o.print_seed = false;
    };
  };
  return {
      make_row("fifo", fifo_like, &fifo::run_fiber, fifo::run),
      make_row("fifo_child_first", one_thread_child_first, &fifo::run_fiber, fifo::run,
               [](fifo::Options& o) { o.child_first = true; }),
      make_row("fifo_quota1", fifo_like, &fifo::run_fiber, fifo::run, nullptr, quota1),
      make_row("multififo_t1", fifo_like, &multififo::run_fiber, multififo::run, workers_of(1)),
      make_row("multififo_t2", workers, &multififo::run_fiber, multififo::run, workers_of(2)),
      make_row("multififo_t4", workers, &multififo::run_fiber, multififo::run, workers_of(4)),
      make_row("multififo_t2_child_first", workers, &multififo::run_fiber, multififo::run,
               workers_of(2, true)),
      make_row("libevent", fifo_like, &libevent::run_fiber, libevent::run),
      make_row("lifo", one_thread, &lifo::run_fiber, lifo::run),
      make_row("thread", thread_per_fiber, &thread::run_fiber, thread::run),
      make_row("randos_seed42", randomized, &randos::run_fiber, randos::run,
               randos_with(42, 1, false)),
      make_row("randos_t2", randomized_workers, &randos::run_fiber, randos::run,
               randos_with(7, 2, false)),
      make_row("randos_vclock", virtual_time, &randos::run_fiber, randos::run,
               randos_with(11, 1, true)),
  };
}

using picos::testing::Exit;
using picos::testing::Fatal;
using picos::testing::hand_off_side;
using picos::testing::spawn;

struct Stopped : std::runtime_error {
  Stopped() : std::runtime_error("stopped") {}
};

// Counts its live instances: tells when the last exception_ptr to a reason is gone.
struct Counted : std::runtime_error {
  static inline std::atomic<int> live{0};
  Counted() : std::runtime_error("Counted") { live++; }
  Counted(const Counted& o) : std::runtime_error(o) { live++; }
  ~Counted() override { live--; }
};

// Threads of this process, from /proc/self/status.
int process_threads() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "Threads:") {
      int n = 0;
      status >> n;
      return n;
    }
  }
  return -1;
}

// The thread count once it stops going down (threads that were just joined may stay listed
// for a moment), within a second.
int settled_threads(int at_most) {
  int n = process_threads();
  for (int i = 0; i < 1000 && n > at_most; ++i) {
    std::this_thread::sleep_for(1ms);
    n = process_threads();
  }
  return n;
}

// Calls `f` and expects std::invalid_argument whose message names `what`.
template <typename F>
void expect_invalid(F f, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one naming " << what;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

class SchedulerTest : public ::testing::TestWithParam<Row> {
 protected:
  const Row& row() const { return GetParam(); }
  const Capabilities& caps() const { return GetParam().caps; }
  StackfulOptions options() const { return row().defaults; }

  // The scheduler's run, through its type-erased run_fiber (as its own `run` does).
  template <typename F>
  std::invoke_result_t<F&> run(F&& main, const StackfulOptions& o) const {
    return run_entry(row().name.c_str(), row().run_fiber, std::forward<F>(main), o);
  }
  template <typename F>
  std::invoke_result_t<F&> run(F&& main) const {
    return run(std::forward<F>(main), options());
  }
  void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const StackfulOptions& o) {
    row().run_fiber(std::move(fiber), std::move(main), o);
  }

  // What a run with options `o` prints to stderr while its one spawned fiber waits, with no
  // timer pending, for a trigger that another thread signals after `after`.
  std::string stderr_while_blocked_for(std::chrono::milliseconds after, const StackfulOptions& o) {
    Trigger t;
    std::thread waker([t, after] {
      std::this_thread::sleep_for(after);
      t.signal();
    });
    ::testing::internal::CaptureStderr();
    run([t] { spawn([t] { (void)t.await(); }); }, o);
    std::string err = ::testing::internal::GetCapturedStderr();
    waker.join();
    return err;
  }

  // Two runs on two threads hand a trigger back and forth `rounds` times. With `busy`, a
  // second fiber keeps each scheduler running, so wake-ups also arrive while it is not idle;
  // without, each scheduler sleeps between hand-offs and every wake-up crosses threads.
  void hand_off(int rounds, bool busy) {
    std::atomic<Trigger*> a_box{nullptr}, b_box{nullptr};
    auto side = [&](std::atomic<Trigger*>& mine, std::atomic<Trigger*>& peer) {
      run([&] {
        Computation<void> stop;
        if (busy) {
          Fiber::spawn(Fiber::create(stop), [] {
            try {
              for (;;) {
                Fiber::yield();
                // Gives the CPU away as well: on a loaded machine with fewer free cores than
                // busy threads, a pure fiber spin makes every hand-off wait for a time slice.
                std::this_thread::yield();
              }
            } catch (const Exit&) {
            }
          });
        }
        hand_off_side(mine, peer, rounds);
        stop.cancel(std::make_exception_ptr(Exit()));
      });
    };
    std::thread b([&] { side(b_box, a_box); });
    side(a_box, b_box);
    b.join();
    delete a_box.exchange(nullptr);
    delete b_box.exchange(nullptr);
  }
};

// ---- options and arguments -------------------------------------------------------------

TEST_P(SchedulerTest, BadOptionsAndArgumentsAreRejected) {
  for (auto bad : {std::chrono::nanoseconds(0), std::chrono::nanoseconds(-1ms)}) {
    StackfulOptions o = options();
    o.stall_warning = bad;
    expect_invalid([&] { run([] {}, o); }, "stall_warning");
  }
  if (caps().stackful) {
    for (int bad : {0, -3}) {
      StackfulOptions o = options();
      o.quota = bad;
      expect_invalid([&] { run([] {}, o); }, "quota must be positive");
    }
    // Near SIZE_MAX the size wrapped to 0 when rounded up to pages (a stack header inside the
    // guard page); a merely huge one failed at the first mmap with a message about the number
    // of fibers.
    for (std::size_t bad : {std::numeric_limits<std::size_t>::max(), std::size_t{1} << 50,
                            context::kMaxStackSize + 1}) {
      StackfulOptions o = options();
      o.stack_size = bad;
      expect_invalid([&] { run([] {}, o); }, "stack_size must be at most");
    }
  }
  expect_invalid(
      [&] {
        run_fiber(
            FiberRef(), [] {}, options());
      },
      "null fiber");
  expect_invalid(
      [&] {
        run_fiber(Fiber::create(PackedComputation()), absl::AnyInvocable<void()>(), options());
      },
      "empty main");
  FiberRef once = Fiber::create(PackedComputation());
  run_fiber(
      once, [] {}, options());
  expect_invalid(
      [&] {
        run_fiber(
            once, [] {}, options());
      },
      "the fiber has already been spawned");
}

TEST_P(SchedulerTest, ForbidOptionStartsMainWithCancelationForbidden) {
  StackfulOptions o = options();
  o.forbid = true;
  EXPECT_TRUE(run([] { return Fiber::current().has_forbidden(); }, o));
  EXPECT_FALSE(run([] { return Fiber::current().has_forbidden(); }));
}

// The scheduler's own run takes a move-only main and returns a move-only result (taken from
// the main computation, not copied).
TEST_P(SchedulerTest, MoveOnlyMainAndResult) {
  std::unique_ptr<int> r = row().run_unique(
      [q = std::make_unique<int>(5)]() mutable { return std::make_unique<int>(*q + 2); },
      options());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(*r, 7);
}

// ---- spawned closures ----------------------------------------------------------------------

// Live copies of the Closure objects of one test, and their calls.
struct Tally {
  std::atomic<int> live{0};
  std::atomic<int> calls{0};
};

// A closure of (at least) N bytes aligned to A that counts its copies and checks, when called,
// that it sits where its alignment says.
template <std::size_t N, std::size_t A = alignof(void*)>
struct alignas(A) Closure {
  explicit Closure(Tally* t) noexcept : tally(t) { tally->live++; }
  Closure(const Closure& o) noexcept : tally(o.tally) { tally->live++; }
  Closure(Closure&& o) noexcept : tally(o.tally) { tally->live++; }
  Closure& operator=(const Closure&) = delete;
  ~Closure() { tally->live--; }
  void operator()() {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(this) % A, 0u) << "closure misaligned";
    tally->calls++;
  }
  Tally* tally;
  unsigned char pad[N] = {};
};

// A closure whose move throws: Fiber::spawn throws it and spawns nothing.
struct ThrowsWhenMoved {
  ThrowsWhenMoved() = default;
  ThrowsWhenMoved(const ThrowsWhenMoved&) = default;
  // Throwing is the point of this type.
  // NOLINTNEXTLINE(bugprone-exception-escape,performance-noexcept-move-constructor)
  ThrowsWhenMoved(ThrowsWhenMoved&& /*unused*/) { throw std::length_error("moved"); }
  void operator()() { ADD_FAILURE() << "a fiber ran after its spawn threw"; }
};
// The same, too large for a record's space: the block taken for it is given back (ASan's leak
// check would see it otherwise).
// Its implicit move throws, as its base's does: the point of the type.
// NOLINTNEXTLINE(bugprone-exception-escape)
struct LargeThrowsWhenMoved : ThrowsWhenMoved {
  unsigned char pad[100] = {};
};

// Fiber::spawn moves a closure object once, to where its scheduler keeps it (the kernel's
// schedulers: in the fiber's record when it fits, in a block from the thread's cache up to
// 256 bytes, on the heap past that): whatever its size,
// alignment and copyability it is called once, on the fiber, and destroyed once.
TEST_P(SchedulerTest, SpawnedClosuresOfEverySizeRunOnceAndAreDestroyed) {
  if (!caps().waits_for_all_fibers) GTEST_SKIP() << "run does not wait for every fiber";
  Tally t;
  int spawned = run([&t] {
    auto fiber = [] { return Fiber::create(PackedComputation()); };
    Fiber::spawn(fiber(), Closure<8>(&t));
    Fiber::spawn(fiber(), Closure<48>(&t));   // a record's space, exactly (with the pointer)
    Fiber::spawn(fiber(), Closure<200>(&t));  // in a cached block
    Fiber::spawn(fiber(), Closure<300>(&t));  // on the heap
    // Over-aligned (past max_align_t; 32, as ASan stack frames do not honour more): on the heap.
    Fiber::spawn(fiber(), Closure<8, 32>(&t));
    const Closure<24> kept(&t);
    Fiber::spawn(fiber(), kept);  // an lvalue: copied, the original stays here
    Fiber::spawn(fiber(), absl::AnyInvocable<void()>(Closure<16>(&t)));
    Fiber::spawn(fiber(), [&t, p = std::make_unique<int>(1)] { t.calls += *p; });  // move-only
    ThrowsWhenMoved throws;
    EXPECT_THROW(Fiber::spawn(fiber(), std::move(throws)), std::length_error);
    LargeThrowsWhenMoved large_throws;
    EXPECT_THROW(Fiber::spawn(fiber(), std::move(large_throws)), std::length_error);
    EXPECT_THROW(Fiber::spawn(fiber(), absl::AnyInvocable<void()>()), std::invalid_argument);
    EXPECT_THROW(Fiber::spawn(FiberRef(), Closure<8>(&t)), std::invalid_argument);
    return 8;
  });
  EXPECT_EQ(spawned, 8);
  EXPECT_EQ(t.calls.load(), 8);
  EXPECT_EQ(t.live.load(), 0) << "a closure was not destroyed, or destroyed twice";
}

// A child-first spawn switches the spawner out, inside a catch block and during unwinding too:
// each fiber keeps its own exception state across switches (docs/hazards.md), so the spawner
// still handles its own exception afterwards. (It used to queue the child there instead.) One
// thread only: on several workers another one may run the child, or the spawner, at any time.
TEST_P(SchedulerTest, ChildFirstSpawnRunsTheChildAtOnceInsideACatchBlockOrDuringUnwinding) {
  if (!caps().child_first || !caps().runs_on_one_thread) {
    GTEST_SKIP() << "not child first on one thread";
  }
  // Spawns a child that sets `started`; whether it had started when spawn returned.
  auto spawn_one = [](bool& started) {
    spawn([&started] { started = true; });
    return started;
  };
  struct SpawnsWhenDestroyed {
    decltype(spawn_one)& spawn;
    bool& started;
    bool& at_once;
    int& uncaught_after;
    ~SpawnsWhenDestroyed() {
      at_once = spawn(started);
      uncaught_after = std::uncaught_exceptions();
    }
  };
  bool started[4] = {};  // outlives the children (run waits for them)
  bool at_once[4] = {};
  int uncaught_after[4] = {-1, -1, -1, -1};
  bool rethrew_own = false;
  run([&] {
    at_once[0] = spawn_one(started[0]);  // outside any handler
    try {
      throw Exit();
    } catch (const Exit&) {
      at_once[1] = spawn_one(started[1]);  // inside a catch block
      try {
        throw;  // still the spawner's own exception
      } catch (const Exit&) {
        rethrew_own = true;
      }
    }
    try {
      SpawnsWhenDestroyed s{spawn_one, started[2], at_once[2], uncaught_after[2]};  // unwinding
      throw Exit();
    } catch (const Exit&) {
    }
    {
      SpawnsWhenDestroyed s{spawn_one, started[3], at_once[3], uncaught_after[3]};  // no unwinding
    }
    return 0;
  });
  EXPECT_TRUE(at_once[0]) << "outside any handler, child first runs the child at once";
  EXPECT_TRUE(at_once[1]) << "inside a catch block";
  EXPECT_TRUE(rethrew_own) << "the spawner's exception was lost across the switch";
  EXPECT_TRUE(at_once[2]) << "in a destructor run by unwinding";
  EXPECT_EQ(uncaught_after[2], 1) << "the spawner's unwinding was lost across the switch";
  EXPECT_TRUE(at_once[3]) << "in a destructor run at the end of its scope";
  EXPECT_EQ(uncaught_after[3], 0);
  for (bool s : started) EXPECT_TRUE(s) << "every child ran";
}

// ---- run waits ----------------------------------------------------------------------------

TEST_P(SchedulerTest, RunWaitsForTransitivelySpawnedFibers) {
  if (!caps().waits_for_all_fibers) GTEST_SKIP() << "run does not wait for every fiber";
  std::atomic<int> finished{0};
  int result = run([&finished] {
    for (int i = 0; i < 20; ++i) {
      spawn([&finished, i] {
        for (int j = 0; j < 10; ++j) {
          spawn([&finished, i, j] {
            Fiber::yield();
            if ((i + j) % 5 == 0) Fiber::sleep(0.001);
            finished++;
          });
        }
        finished++;
      });
    }
    return 42;
  });
  EXPECT_EQ(result, 42);
  EXPECT_EQ(finished.load(), 220);
}

// ---- fatal errors --------------------------------------------------------------------------

TEST_P(SchedulerTest, FatalErrorIsRethrownByDefault) {
  EXPECT_THROW(run([] {
                 spawn([] { throw Fatal(); });
                 return 1;
               }),
               Fatal);
  // An exception escaping main itself (run_fiber's, not run's) is a fatal error too.
  EXPECT_THROW(run_fiber(
                   Fiber::create(PackedComputation()), [] { throw Fatal(); }, options()),
               Fatal);
}

// The scheduler stops: fibers that never finish (busy or blocked) are abandoned, and a late
// signal to an abandoned fiber is harmless.
TEST_P(SchedulerTest, FatalErrorAbandonsUnfinishedFibers) {
  if (!caps().stops_on_fatal_error) GTEST_SKIP() << "fatal errors stop nothing here";
  std::atomic<int> yields{0};
  Trigger never, never_main;
  EXPECT_THROW(run([&] {
                 for (int i = 0; i < 100; ++i) {
                   spawn([&yields] {
                     for (;;) {
                       yields++;
                       Fiber::yield();
                     }
                   });
                 }
                 spawn([never] { (void)never.await(); });
                 while (yields.load() == 0) Fiber::yield();
                 spawn([] { throw Fatal(); });
                 (void)never_main.await();
               }),
               Fatal);
  EXPECT_GT(yields.load(), 0);
  never.signal();
  never_main.signal();
}

TEST_P(SchedulerTest, FatalErrorIsRethrownAfterTheOtherFibersFinish) {
  if (caps().stops_on_fatal_error) GTEST_SKIP() << "a fatal error stops the other fibers";
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

// The four scheduler operations, called where the scheduler runs code of its own rather than
// a fiber; what each threw (or "<operation>: no error").
std::vector<std::string> try_operations_off_fiber() noexcept {
  std::vector<std::string> seen;
  auto record = [&](const char* name, auto&& op) {
    try {
      op();
      seen.push_back(std::string(name) + ": no error");
    } catch (const std::logic_error& e) {
      seen.push_back(e.what());
    } catch (...) {
      seen.push_back(std::string(name) + ": another exception");
    }
  };
  record("yield", [] { Fiber::yield(); });
  record("spawn", [] { Fiber::spawn(Fiber::create(PackedComputation()), [] {}); });
  record("cancel_after", [] {
    Computation<void> c;
    c.cancel_after(1s, std::make_exception_ptr(Stopped()));
  });
  record("await", [] {
    Trigger t;
    if (std::exception_ptr e = t.await()) std::rethrow_exception(e);
  });
  return seen;
}

void expect_failed_precisely(const std::vector<std::string>& seen) {
  const char* const ops[] = {"picos::Fiber::yield", "picos::Fiber::spawn",
                             "picos::PackedComputation::cancel_after", "picos::Trigger::await"};
  ASSERT_EQ(seen.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(seen[i].rfind(ops[i], 0), 0u) << seen[i];
    EXPECT_NE(seen[i].find("scheduler's own stack"), std::string::npos) << seen[i];
  }
}

// Where the scheduler runs code of its own (its loop firing a timer, whose cancelation runs a
// trigger's action; its fatal-error handler) there is no current fiber: the operations fail
// with a std::logic_error that says so (await returns it). Before, they reached the scheduler
// with no current fiber: a crash. Not on thread: its timers and fatal handler run on threads
// without a scheduler, where the operations are the default handler's.
TEST_P(SchedulerTest, OperationsOnTheSchedulersOwnStackFailPrecisely) {
  if (!caps().stackful) GTEST_SKIP() << "timers and the fatal handler run off the scheduler";
  std::vector<std::string> from_action;
  run([&] {
    Computation<void> c;
    Trigger t =
        Trigger::from_action(&from_action, nullptr, [](const Trigger&, void* x, void*) noexcept {
          *static_cast<std::vector<std::string>*>(x) = try_operations_off_fiber();
        });
    EXPECT_TRUE(c.try_attach(t));
    c.cancel_after(1ms, std::make_exception_ptr(Stopped()));
    c.wait();  // every fiber waits: the timer fires from the loop
    return 0;
  });
  expect_failed_precisely(from_action);

  std::vector<std::string> from_handler;
  StackfulOptions o = options();
  o.fatal_exn_handler = [&](const std::exception_ptr&) {
    from_handler = try_operations_off_fiber();
  };
  run(
      [] {
        spawn([] { throw Fatal(); });
        return 0;
      },
      o);
  expect_failed_precisely(from_handler);
}

TEST_P(SchedulerTest, FatalHandlerThatReturnsLetsTheRunContinue) {
  std::mutex mu;
  std::vector<std::string> seen;
  bool on_caller_thread = true;
  const auto caller = std::this_thread::get_id();
  StackfulOptions o = options();
  o.fatal_exn_handler = [&](std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(mu);
    if (std::this_thread::get_id() != caller) on_caller_thread = false;
    try {
      std::rethrow_exception(std::move(e));
    } catch (const std::exception& ex) {
      seen.push_back(ex.what());
    }
  };
  int after = run(
      [] {
        for (int i = 0; i < 10; ++i) spawn([] { throw Fatal(); });
        Fiber::yield();
        return 7;
      },
      o);
  EXPECT_EQ(after, 7);
  EXPECT_EQ(seen, std::vector<std::string>(10, "fatal"));
  if (caps().runs_on_one_thread) {
    EXPECT_TRUE(on_caller_thread);
  }
}

// A handler that cancels main (whose computation every fiber shares here) and throws ends the
// run, on every scheduler: run_fiber throws what the handler threw.
TEST_P(SchedulerTest, FatalHandlerThatThrowsEndsTheRun) {
  Computation<void> main_c;
  StackfulOptions o = options();
  o.fatal_exn_handler = [main_c](std::exception_ptr e) {
    main_c.cancel(std::move(e));
    throw Stopped();
  };
  EXPECT_THROW(run_fiber(
                   Fiber::create(main_c),
                   [main_c] {
                     main_c.capture([main_c] {
                       for (int i = 0; i < 10; ++i) {
                         Fiber::spawn(Fiber::create(main_c), [] {
                           for (;;) Fiber::yield();
                         });
                       }
                       spawn([] { throw Fatal(); });
                       Trigger never;
                       (void)never.await();
                     });
                   },
                   o),
               Stopped);
  EXPECT_TRUE(main_c.is_canceled());
}

// A throwing handler stops even fibers that nothing cancels, main included.
TEST_P(SchedulerTest, FatalHandlerThatThrowsStopsEveryFiber) {
  if (!caps().stops_on_fatal_error) GTEST_SKIP() << "fatal errors stop nothing here";
  StackfulOptions o = options();
  o.fatal_exn_handler = [](const std::exception_ptr&) { throw Stopped(); };
  EXPECT_THROW(run(
                   [] {
                     for (int i = 0; i < 100; ++i) {
                       spawn([] {
                         for (;;) Fiber::yield();
                       });
                     }
                     spawn([] { throw Fatal(); });
                     for (;;) Fiber::yield();
                   },
                   o),
               Stopped);
}

// ---- stall warning ---------------------------------------------------------------------

TEST_P(SchedulerTest, StallWarningNamesBlockedFibers) {
  StackfulOptions o = options();
  o.stall_warning = 60ms;
  const std::string err = stderr_while_blocked_for(400ms, o);
  for (const std::string& says : caps().stall_warning_says) {
    EXPECT_NE(err.find(says), std::string::npos) << "expected \"" << says << "\" in: " << err;
  }
}

TEST_P(SchedulerTest, NoStallWarningWhileATimerIsPending) {
  if (!caps().stall_warning_ignores_timers) GTEST_SKIP() << "sleeping fibers count as stalled";
  StackfulOptions o = options();
  o.stall_warning = 60ms;
  ::testing::internal::CaptureStderr();
  run([] { spawn([] { Fiber::sleep(0.2); }); }, o);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find("fiber(s)"), std::string::npos) << err;
}

// The largest stall_warning means "never", and the largest idle_spin "spin until woken": fifo
// added them to the clock, which overflowed (a warning and a dump at once; no spin at all).
TEST_P(SchedulerTest, TheLargestStallWarningNeverWarns) {
  StackfulOptions o = options();
  o.stall_warning = std::chrono::nanoseconds::max();
  const std::string err = stderr_while_blocked_for(100ms, o);
  EXPECT_EQ(err.find("fiber(s)"), std::string::npos) << err;
}

// A fiber that runs without suspending is not a stall, however long it runs: while it runs
// the other threads of the scheduler may be idle, but nothing is blocked.
TEST_P(SchedulerTest, NoStallWarningWhileAFiberRuns) {
  StackfulOptions o = options();
  o.stall_warning = 20ms;
  ::testing::internal::CaptureStderr();
  run([] { std::this_thread::sleep_for(200ms); }, o);  // busy as far as the scheduler knows
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find("fiber(s)"), std::string::npos) << err;
}

// ---- several runs ----------------------------------------------------------------------

// A run nested inside a fiber: once it returns, the outer fiber keeps yielding and spawning
// on its own scheduler.
TEST_P(SchedulerTest, NestedRunInsideAFiber) {
  int result = run([this] {
    Computation<int> outer_child;
    Fiber::spawn(Fiber::create(outer_child), [outer_child] { outer_child.return_value(1); });
    int v = run([] {
      Computation<int> x;
      Fiber::spawn(Fiber::create(x), [x] { x.return_value(41); });
      Fiber::yield();
      return x.await() + 1;
    });
    Fiber::yield();
    Computation<int> after;
    Fiber::spawn(Fiber::create(after), [after] { after.return_value(100); });
    Fiber::yield();
    return v + outer_child.await() + after.await();
  });
  EXPECT_EQ(result, 143);
}

// Each run leaves nothing behind: no thread it started, and a timer still pending when it
// ends (its computation outlives the run) neither keeps it alive nor stays registered.
TEST_P(SchedulerTest, RepeatedRunsDoNotLeakOrInterfere) {
  const int threads_before = settled_threads(process_threads());
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(run([i] {
                Computation<int> c;
                Fiber::spawn(Fiber::create(c), [c, i] {
                  Computation<void> t;
                  t.cancel_after(3600.0, std::make_exception_ptr(Exit()));
                  c.return_value(i);
                });
                return c.await();
              }),
              i);
  }
  // No more threads than before: fewer is an earlier test's joined worker leaving the list
  // meanwhile (failed once under TSan: 2 after, 3 before, the test before it ran 4 workers).
  EXPECT_LE(settled_threads(threads_before), threads_before);
  Computation<void> outlives;
  run([&] { outlives.cancel_after(3600.0, std::make_exception_ptr(Counted())); });
  EXPECT_EQ(Counted::live.load(), 0);  // the timer's entry (holding the reason) is gone
  EXPECT_TRUE(outlives.is_running());
  outlives.finish();
}

TEST_P(SchedulerTest, TwoRunsAtOnceAreIndependent) {
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

// The small test depot (steady capacity 16, burst 400) holding a burst of 300 stacks, left
// there by a thread's exit and still within a long hold; the caller sets the hold it wants.
void leave_a_burst_in_the_depot() {
  context::StackPool::trim();  // the calling thread's pool too
  context::set_depot_limits_for_testing(context::testing::small_depot(std::chrono::hours(1)));
  context::testing::burst_on_a_thread(300);
  ASSERT_EQ(context::stack_stats().depot_stacks, 300u);
}

// The stack depot keeps a burst of stacks beyond its steady capacity while it is reused
// (mux/context/stack.h); once it has gone unused for the hold, a scheduler about to idle
// releases it, a batch at a time.
TEST_P(SchedulerTest, AnIdleSchedulerReleasesAnUnusedBurstOfStacks) {
  if (!caps().releases_unused_stacks) GTEST_SKIP() << "does not release the depot's burst";
  using context::StackPool;
  ASSERT_NO_FATAL_FAILURE(leave_a_burst_in_the_depot());
  const std::size_t unmaps_before = context::stack_stats().unmaps_total;
  context::set_depot_limits_for_testing(context::testing::small_depot(std::chrono::nanoseconds(0)));
  run([] { Fiber::sleep(std::chrono::milliseconds(20)); });  // idles while its fiber sleeps
  EXPECT_GE(context::stack_stats().unmaps_total - unmaps_before, StackPool::kDepotBatch);
  context::restore_depot_limits_for_testing();
  StackPool::trim();
}

// And it wakes for it (StackPool::release_due): here nothing else would wake it, its only
// fiber waiting, with no timer pending, for another thread that signals only once the burst
// is back to the steady capacity, or after 10 s.
TEST_P(SchedulerTest, AnIdleSchedulerWakesToReleaseAnUnusedBurstOfStacks) {
  if (!caps().releases_unused_stacks) GTEST_SKIP() << "does not release the depot's burst";
  using context::StackPool;
  constexpr std::size_t kSteady = 16;  // small_depot's
  ASSERT_NO_FATAL_FAILURE(leave_a_burst_in_the_depot());
  // Unused from now on: stale 20 ms after the burst.
  context::set_depot_limits_for_testing(context::testing::small_depot(20ms));
  Trigger released;
  bool in_time = false;
  std::thread watcher([&] {
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (context::stack_stats().depot_stacks > kSteady &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(1ms);
    }
    in_time = context::stack_stats().depot_stacks <= kSteady;
    released.signal();
  });
  run([&] { (void)released.await(); });
  watcher.join();
  EXPECT_TRUE(in_time) << context::stack_stats().depot_stacks
                       << " stacks still in the depot after 10 s";
  context::restore_depot_limits_for_testing();
  StackPool::trim();
}

TEST_P(SchedulerTest, TwoBusyRunsOnTwoThreadsWakeEachOther) { hand_off(5000 / kScale, true); }

TEST_P(SchedulerTest, TwoIdleRunsOnTwoThreadsWakeEachOther) { hand_off(5000 / kScale, false); }

TEST_P(SchedulerTest, IdleSchedulerIsWokenFromAnotherThread) {
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

// ---- quota ---------------------------------------------------------------------------------

TEST_P(SchedulerTest, QuotaMakesABusyFiberYield) {
  if (!caps().honours_quota) GTEST_SKIP() << "quota is not honoured";
  StackfulOptions o = options();
  o.quota = 2;
  // A fiber that only spawns must let others run on its own thread. With several workers
  // a child may be stolen by a worker the OS does not run for a while, so what is counted
  // is children that ran on the spawner's thread while it was still spawning: with quota
  // 2 it is forced to yield every second spawn, and a child of its queue runs then.
  const int spawns = caps().runs_on_one_thread ? 2 : 1000;
  bool ran = run(
      [spawns] {
        const std::thread::id spawner = std::this_thread::get_id();
        std::atomic<bool> done{false};
        std::atomic<int> ran_here{0};
        std::atomic<int> finished{0};
        int spawned = 0;
        for (; spawned < spawns && ran_here.load() == 0; ++spawned) {
          spawn([&, spawner] {
            if (!done.load() && std::this_thread::get_id() == spawner) ++ran_here;
            ++finished;
          });
        }
        const bool ran = ran_here.load() > 0;
        done = true;
        while (finished.load() < spawned) Fiber::yield();
        return ran;
      },
      o);
  EXPECT_TRUE(ran);
}

TEST_P(SchedulerTest, QuotaForcesYieldAfterNonSuspendingOperationsInFifoOrder) {
  if (!caps().fifo_order) GTEST_SKIP() << "the order is not FIFO";
  StackfulOptions o = options();
  o.quota = 2;
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
      o);
  EXPECT_EQ(order,
            (std::vector<std::string>{"after spawn", "child", "child2", "after second spawn"}));
}

// ---- timers --------------------------------------------------------------------------------

// Timers fire in deadline order, whatever order they were set in: three fibers wait on three
// computations, and once all wait, main sets their timers (15, 30, 45 ms) in another order, in
// microseconds, so that their deadlines' order does not depend on how fast fibers start on a
// loaded machine. Each fiber takes the next rank when it runs again. Timers fire in deadline
// order everywhere, but only where the woken fibers then run one by one in the order they were
// woken is the order of the ranks certain (elsewhere two fibers made ready at once may run in
// either order).
TEST_P(SchedulerTest, TimersFireInDeadlineOrder) {
  std::vector<int> ranks = run([] {
    std::atomic<int> next{0};
    std::atomic<int> waiting{0};
    std::vector<int> ranks(3, -1);
    std::vector<Computation<void>> timers(3);
    std::vector<Computation<void>> fibers;
    for (int slot : {2, 0, 1}) {
      Computation<void> c;
      Fiber::spawn(Fiber::create(c), [c, &next, &waiting, &ranks, &timers, slot] {
        waiting++;
        timers[static_cast<std::size_t>(slot)].wait();
        ranks[static_cast<std::size_t>(slot)] = next.fetch_add(1);
        c.finish();
      });
      fibers.push_back(c);
    }
    while (waiting.load() < 3) Fiber::yield();
    for (int slot : {2, 0, 1}) {
      timers[static_cast<std::size_t>(slot)].cancel_after(
          std::chrono::milliseconds(15 * (slot + 1)),
          std::make_exception_ptr(std::runtime_error("t")));
    }
    for (auto& f : fibers) f.await();
    return ranks;
  });
  if (caps().runs_on_one_thread && !caps().random_order) {
    EXPECT_EQ(ranks, (std::vector<int>{0, 1, 2}));
  } else {
    std::sort(ranks.begin(), ranks.end());
    EXPECT_EQ(ranks, (std::vector<int>{0, 1, 2}));  // each woke once
  }
}

// Counts its live instances, apart from Counted's (a timer left in a scheduler that outlives
// this test must not disturb the tests that count those).
struct TimerReason : std::runtime_error {
  static inline std::atomic<int> live{0};
  TimerReason() : std::runtime_error("TimerReason") { live++; }
  TimerReason(const TimerReason& o) : std::runtime_error(o) { live++; }
  ~TimerReason() override { live--; }
};

// The entry of a timer whose computation has completed (it holds the reason) is dropped
// lazily, but memory stays proportional to the live timers (picos/internal/timer_heap.h: a
// compaction each time the entries have doubled, from 64): with none live, never more than a
// few hundred of these entries at once, not one per timer. ASan's leak checker verifies that
// none leaks.
TEST_P(SchedulerTest, ManyCompletedTimersDoNotAccumulate) {
  const int most_held = run([] {
    int most = 0;
    for (int i = 0; i < 100000 / kScale; ++i) {
      Computation<void> c;
      c.cancel_after(3600.0, std::make_exception_ptr(TimerReason()));
      c.finish();
      most = std::max(most, TimerReason::live.load());
    }
    return most;
  });
  EXPECT_GT(most_held, 0);  // each entry holds its reason until it is dropped
  EXPECT_LE(most_held, 1000) << "completed timers' entries accumulate";
}

// A timer of TimerHeap::kDeferFrom or more is armed at the scheduler's next look at its
// timers, not in cancel_after (picos/internal/timer_heap.h): it must still fire, and never
// before its delay, both when the arming fiber then waits alone (the loop idles at once: the
// look is the one before it sleeps) and when it keeps the scheduler busy (the loop looks
// every 64 switches). A lost timer fails the test (a watchdog thread ends the wait), not hangs it.
TEST_P(SchedulerTest, LongTimersFireNeverEarlyWhetherTheLoopIdlesOrStaysBusy) {
  if (caps().virtual_clock) GTEST_SKIP() << "virtual time: the delay passes at once";
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kDelay = internal::TimerHeap::kDeferFrom + 100ms;
  static constexpr Clock::duration kGiveUp = kDelay + 10s;
  auto timed = [](bool busy) {
    Computation<void> t;
    std::mutex mu;
    std::condition_variable cv;
    bool over = false;
    std::thread watchdog([&] {
      std::unique_lock<std::mutex> lock(mu);
      if (!cv.wait_for(lock, kGiveUp, [&] { return over; })) t.try_finish();  // never fired
    });
    const Clock::time_point start = Clock::now();
    t.cancel_after(kDelay, std::make_exception_ptr(Exit()));
    if (busy) {
      while (t.is_running()) Fiber::yield();
    } else {
      t.wait();
    }
    const Clock::duration took = t.is_canceled() ? Clock::now() - start : Clock::duration::max();
    {
      std::lock_guard<std::mutex> lock(mu);
      over = true;
    }
    cv.notify_one();
    watchdog.join();
    return took;
  };
  const std::vector<Clock::duration> elapsed = run([&] {
    return std::vector<Clock::duration>{timed(false), timed(true)};
  });
  for (Clock::duration e : elapsed) {
    EXPECT_NE(e, Clock::duration::max()) << "the timer never fired";
    EXPECT_GE(e, kDelay);
    EXPECT_LE(e, kDelay + 2s);  // late by a look at the timers, not by seconds
  }
}

// With several threads, a long timer fires on time while its fiber computes without ever
// suspending (cooperative cancelation by polling): another thread looks at the timers. A
// deferred timer must therefore be visible to the other workers, not only to the arming one
// (picos/internal/timer_heap.h; docs/design.md, "Timers").
TEST_P(SchedulerTest, LongTimerFiresWhileItsFiberComputesWithoutSuspending) {
  if (caps().runs_on_one_thread) GTEST_SKIP() << "one thread: timers wait for a suspension";
  if (caps().virtual_clock) GTEST_SKIP() << "virtual time: the delay passes at once";
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kDelay = internal::TimerHeap::kDeferFrom + 100ms;
  static constexpr Clock::duration kGiveUp = kDelay + 10s;
  const Clock::duration took = run([] {
    Computation<void> self;
    const Clock::time_point start = Clock::now();
    self.cancel_after(kDelay, std::make_exception_ptr(Exit()));
    while (self.is_running() && Clock::now() - start < kGiveUp) {
      // computing: no await, no yield
    }
    const Clock::duration d = Clock::now() - start;
    return self.is_canceled() ? d : Clock::duration::max();
  });
  EXPECT_NE(took, Clock::duration::max()) << "the timer did not fire while the fiber computed";
  EXPECT_GE(took, kDelay);
  EXPECT_LE(took, kDelay + 2s);
}

INSTANTIATE_TEST_SUITE_P(EveryScheduler, SchedulerTest, ::testing::ValuesIn(rows()),
                         [](const ::testing::TestParamInfo<Row>& info) { return info.param.name; });

}  // namespace
}  // namespace picos::mux
