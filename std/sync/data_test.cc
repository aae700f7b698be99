// Copyright 2026 The Picos for C++ Authors.
//
// Barrier, Lazy and Stream on every scheduler of the conformance matrix: the cases of Picos'
// test_sync (Barrier basics and poisoning, Lazy basics and cancelation, non-cancelable
// operations), Stream's multi-reader behaviour, and cancelation injected at each suspension
// point: (a) canceled before the call, (b) canceled while suspended, (c) cancelation racing
// the wake-up.

#include <atomic>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/sync/barrier.h"
#include "std/sync/errors.h"
#include "std/sync/lazy.h"
#include "std/sync/stream.h"
#include "std/sync/sync_testing.h"

namespace picos::sync {
namespace {

// How a fiber's body ended.
enum class Outcome { kReturned, kStop, kPoisoned, kUndefined, kOther };

std::ostream& operator<<(std::ostream& os, Outcome o) {
  static const char* const kNames[] = {"returned", "Stop", "Poisoned", "LazyUndefined", "other"};
  return os << kNames[static_cast<int>(o)];
}

template <typename F>
Outcome outcome_of(F fn) {
  try {
    fn();
    return Outcome::kReturned;
  } catch (const testing::Stop&) {
    return Outcome::kStop;
  } catch (const Poisoned&) {
    return Outcome::kPoisoned;
  } catch (const LazyUndefined&) {
    return Outcome::kUndefined;
  } catch (...) {
    return Outcome::kOther;
  }
}

// How the computation `done` completed (waiting for it).
Outcome outcome(const Computation<void>& done) {
  done.wait();
  return outcome_of([&] { done.await(); });
}

// Runs `fn` in a new fiber whose computation is `c` (cancel `c` to cancel the fiber); the
// returned computation completes with fn's outcome.
template <typename F>
Computation<void> spawn_in(const PackedComputation& c, F fn) {
  Computation<void> done;
  Fiber::spawn(Fiber::create(c), [done, fn = std::move(fn)]() mutable { done.capture(fn); });
  return done;
}

// Runs `fn` in a new fiber that is canceled (with Stop) before it starts.
template <typename F>
Computation<void> spawn_canceled(F fn) {
  Computation<void> c;
  c.cancel(testing::stop());
  return spawn_in(c, std::move(fn));
}

template <typename P>
void yield_until(P p) {
  while (!p()) Fiber::yield();
}

// Iterations of the cancelation races: each spawns two or three fibers.
int race_rounds() {
  if (testing::threads_are_fibers()) return 50;
  return picos::testing::kSanitizer ? 300 : 2000;
}

// ---- Barrier -------------------------------------------------------------------------------

TEST(BarrierTest, RejectsInvalidPartyCounts) {
  EXPECT_THROW(Barrier(0), std::invalid_argument);
  EXPECT_THROW(Barrier(-1), std::invalid_argument);
  EXPECT_THROW(Barrier(Barrier::kMaxParties + 1), std::invalid_argument);
  Barrier big(Barrier::kMaxParties);
  EXPECT_EQ(big.parties(), Barrier::kMaxParties);
  Barrier b(3);
  EXPECT_EQ(b.parties(), 3);
  EXPECT_EQ(b.arrived(), 0);
  EXPECT_FALSE(b.is_poisoned());
}

TEST(BarrierTest, EverybodySeesAllArrivalsBetweenTwoWaits) {
  picos::testing::run([] {
    std::vector<int> sizes = {1, 2, 3, 4, testing::fibers(32)};
    for (int n : sizes) {
      const int rounds = 5;
      Barrier b(n);
      std::atomic<int> count{0};
      std::vector<Computation<void>> done;
      for (int i = 0; i < n; ++i) {
        done.push_back(testing::fork([&, n] {
          for (int r = 0; r < rounds; ++r) {
            b.arrive_and_wait();
            ++count;
            if (r % 2) Fiber::yield();
            b.arrive_and_wait();
            // Every party incremented once in this round, none yet in the next.
            EXPECT_EQ(count.load(), n * (r + 1)) << "n=" << n << " round " << r;
          }
        }));
      }
      testing::await_all(done);
      for (auto& d : done) d.await();
      EXPECT_EQ(count.load(), n * rounds);
      EXPECT_FALSE(b.is_poisoned());
      EXPECT_EQ(b.arrived(), 0);
    }
  });
}

TEST(BarrierTest, PoisonWakesEveryWaiterAndLaterArrivals) {
  picos::testing::run([] {
    for (int n = 1; n <= 4; ++n) {
      Barrier b(n);
      std::vector<Computation<void>> waiters;
      for (int i = 0; i < n - 1; ++i)
        waiters.push_back(testing::fork([&] { b.arrive_and_wait(); }));
      yield_until([&] { return b.arrived() == n - 1; });
      b.poison();
      EXPECT_TRUE(b.is_poisoned());
      for (auto& w : waiters) EXPECT_EQ(outcome(w), Outcome::kPoisoned) << "n=" << n;
      EXPECT_THROW(b.arrive_and_wait(), Poisoned);
      b.poison();  // idempotent
      EXPECT_TRUE(b.is_poisoned());
    }
  });
}

// (a) A canceled fiber does not arrive: it poisons the barrier and throws its reason.
TEST(BarrierTest, ArrivingWhenAlreadyCanceledPoisonsWithoutArriving) {
  picos::testing::run([] {
    Barrier b(3);
    auto waiter = testing::fork([&] { b.arrive_and_wait(); });
    yield_until([&] { return b.arrived() == 1; });
    auto canceled = spawn_canceled([&] { b.arrive_and_wait(); });
    EXPECT_EQ(outcome(canceled), Outcome::kStop);
    EXPECT_TRUE(b.is_poisoned());
    EXPECT_EQ(b.arrived(), 1);  // the canceled fiber was never counted
    EXPECT_EQ(outcome(waiter), Outcome::kPoisoned);
    EXPECT_THROW(b.arrive_and_wait(), Poisoned);

    Barrier single(1);  // even when it would have been the last arrival
    EXPECT_EQ(outcome(spawn_canceled([&] { single.arrive_and_wait(); })), Outcome::kStop);
    EXPECT_TRUE(single.is_poisoned());
  });
}

// (b) Canceling a waiter poisons the barrier: it throws its reason, the others Poisoned.
TEST(BarrierTest, CanceledWaiterPoisonsTheBarrier) {
  picos::testing::run([] {
    Barrier b(3);
    auto other = testing::fork([&] { b.arrive_and_wait(); });
    Computation<void> victim;
    auto victim_done = spawn_in(victim, [&] { b.arrive_and_wait(); });
    yield_until([&] { return b.arrived() == 2; });
    Fiber::sleep(0.001);  // let both reach their await
    EXPECT_FALSE(b.is_poisoned());
    victim.cancel(testing::stop());
    EXPECT_EQ(outcome(victim_done), Outcome::kStop);
    EXPECT_EQ(outcome(other), Outcome::kPoisoned);
    EXPECT_TRUE(b.is_poisoned());
    EXPECT_THROW(b.arrive_and_wait(), Poisoned);
  });
}

// (c) Cancelation racing the last arrival: either the round completed first (everybody
// passes, no poison) or the cancelation did (the victim throws Stop, the last arrival
// Poisoned). Never a mix, never a hang.
TEST(BarrierTest, CancelRacingTheLastArrivalHasOneOfTwoOutcomes) {
  picos::testing::run([] {
    int passed = 0, poisoned = 0;
    for (int round = 0; round < race_rounds(); ++round) {
      Barrier b(2);
      Computation<void> victim;
      auto victim_done = spawn_in(victim, [&] { b.arrive_and_wait(); });
      if (round % 4 < 2) yield_until([&] { return b.arrived() == 1; });
      Outcome mine;
      if (round % 2) {
        victim.cancel(testing::stop());
        mine = outcome_of([&] { b.arrive_and_wait(); });
      } else {
        auto canceler = testing::fork([&] { victim.cancel(testing::stop()); });
        mine = outcome_of([&] { b.arrive_and_wait(); });
        canceler.await();
      }
      Outcome theirs = outcome(victim_done);
      if (theirs == Outcome::kReturned) {
        ++passed;
        EXPECT_EQ(mine, Outcome::kReturned) << "round " << round;
        EXPECT_FALSE(b.is_poisoned()) << "round " << round;
      } else {
        ++poisoned;
        EXPECT_EQ(theirs, Outcome::kStop) << "round " << round;
        EXPECT_EQ(mine, Outcome::kPoisoned) << "round " << round;
        EXPECT_TRUE(b.is_poisoned()) << "round " << round;
      }
    }
    // Both outcomes happened, so the race was run (passed + poisoned is race_rounds() whatever
    // happens).
    EXPECT_GT(passed, 0);
    EXPECT_GT(poisoned, 0);
  });
}

// ---- Lazy --------------------------------------------------------------------------------

TEST(LazyTest, Basics) {
  picos::testing::run([] {
    int runs = 0;
    Lazy<int> l([&] {
      ++runs;
      return 101;
    });
    EXPECT_FALSE(l.is_value());
    EXPECT_EQ(l.peek(), nullptr);
    EXPECT_EQ(l.force(), 101);
    EXPECT_EQ(l.force(), 101);
    EXPECT_TRUE(l.is_value());
    EXPECT_EQ(*l.peek(), 101);
    EXPECT_EQ(runs, 1);
    // NOLINTNEXTLINE(performance-unnecessary-copy-initialization): the copy is the point
    Lazy<int> copy = l;  // a handle: same value, not recomputed
    EXPECT_EQ(&copy.force(), &l.force());

    auto doubled = l.map([](int x) { return 2 * x; });
    EXPECT_FALSE(doubled.is_value());
    EXPECT_EQ(doubled.force(), 202);

    auto v = Lazy<int>::from_value(42);
    EXPECT_TRUE(v.is_value());
    EXPECT_EQ(v.force(), 42);
    EXPECT_EQ(v.map([](int x) { return x + 1; }).force(), 43);

    Lazy<std::unique_ptr<int>> owned(
        [p = std::make_unique<int>(7)]() mutable { return std::move(p); });
    EXPECT_EQ(*owned.force(), 7);

    int throws = 0;
    Lazy<int> bad([&]() -> int {
      ++throws;
      throw std::runtime_error("bad");
    });
    EXPECT_THROW(bad.force(), std::runtime_error);
    EXPECT_THROW(bad.force(), std::runtime_error);  // stored, not recomputed
    EXPECT_THROW(bad.peek(), std::runtime_error);
    EXPECT_FALSE(bad.is_value());
    EXPECT_EQ(throws, 1);
    EXPECT_THROW(bad.map([](int x) { return x; }).force(), std::runtime_error);
  });
}

TEST(LazyTest, ForcingFromInsideItsOwnThunkThrowsLazyUndefined) {
  picos::testing::run([] {
    std::shared_ptr<Lazy<int>> self;
    bool saw = false;
    self = std::make_shared<Lazy<int>>([&] {
      try {
        (void)self->force();
      } catch (const LazyUndefined&) {
        saw = true;
      }
      return 7;
    });
    EXPECT_EQ(self->force(), 7);
    EXPECT_TRUE(saw);

    // Escaping the thunk, it becomes the stored outcome.
    std::shared_ptr<Lazy<int>> loop;
    loop = std::make_shared<Lazy<int>>([&] { return loop->force() + 1; });
    EXPECT_THROW(loop->force(), LazyUndefined);
    EXPECT_THROW(loop->force(), LazyUndefined);
    EXPECT_FALSE(loop->is_value());
    self.reset();  // break the reference cycles
    loop.reset();
  });
}

TEST(LazyTest, ConcurrentForcersRunTheThunkOnceAndNeverSeeLazyUndefined) {
  picos::testing::run([] {
    for (int rep = 0; rep < 5; ++rep) {
      std::atomic<int> runs{0};
      Lazy<int> l([&] {
        ++runs;
        for (int i = 0; i < 3; ++i) Fiber::yield();  // let the others pile up
        return 5;
      });
      std::atomic<int> sum{0};
      const int n = testing::fibers(100);
      std::vector<Computation<void>> done;
      for (int i = 0; i < n; ++i) done.push_back(testing::fork([&, l] { sum += l.force(); }));
      testing::await_all(done);
      for (auto& d : done) EXPECT_EQ(outcome(d), Outcome::kReturned);
      EXPECT_EQ(runs.load(), 1);
      EXPECT_EQ(sum.load(), 5 * n);
    }
  });
}

// Spec (a): an already-canceled forcer throws its reason and does not start the thunk.
TEST(LazyTest, CanceledForcerDoesNotStartTheThunk) {
  picos::testing::run([] {
    std::atomic<int> runs{0};
    Lazy<int> l([&] {
      ++runs;
      return 42;
    });
    EXPECT_EQ(outcome(spawn_canceled([l] { (void)l.force(); })), Outcome::kStop);
    EXPECT_EQ(runs.load(), 0);
    EXPECT_FALSE(l.is_value());
    EXPECT_EQ(l.force(), 42);
    EXPECT_EQ(runs.load(), 1);
    // Once the value is known, even a canceled fiber gets it (no cancelation point left).
    EXPECT_EQ(outcome(spawn_canceled([l] { EXPECT_EQ(l.force(), 42); })), Outcome::kReturned);
  });
}

// Spec (b): the forcer is canceled while its thunk is blocked: the cancelation raised in the
// thunk is stored permanently.
TEST(LazyTest, ForcerCanceledWhileThunkBlockedStoresTheCancelation) {
  picos::testing::run([] {
    Computation<void> never;
    std::atomic<bool> started{false};
    Lazy<int> l([&, never] {
      started = true;
      never.await();  // throws the forcer's cancelation
      return 1;
    });
    Computation<void> forcer;
    auto forcer_done = spawn_in(forcer, [l] { (void)l.force(); });
    yield_until([&] { return started.load(); });
    forcer.cancel(testing::stop());
    EXPECT_EQ(outcome(forcer_done), Outcome::kStop);
    EXPECT_FALSE(l.is_value());
    EXPECT_THROW(l.force(), testing::Stop);
    EXPECT_THROW(l.force(), testing::Stop);
    EXPECT_TRUE(never.is_running());
  });
}

// A Lazy whose thunk, run by a separate fiber, blocks until `gate` completes.
struct BlockedLazy {
  Computation<void> gate;
  std::shared_ptr<std::atomic<bool>> started = std::make_shared<std::atomic<bool>>(false);
  Lazy<int> lazy{[gate = gate, started = started] {
    *started = true;
    gate.await();
    return 42;
  }};
  Computation<void> runner;

  BlockedLazy() {
    runner = testing::fork([l = lazy] { EXPECT_EQ(l.force(), 42); });
    yield_until([&] { return started->load(); });
  }
  size_t waiters() const { return lazy.computation().bag_size_for_testing(); }
};

// (a) A fiber canceled before it forces a Lazy that another fiber is computing throws its
// reason; the computation goes on.
TEST(LazyTest, WaitingForcerCanceledBeforeTheCall) {
  picos::testing::run([] {
    BlockedLazy b;
    EXPECT_EQ(outcome(spawn_canceled([l = b.lazy] { (void)l.force(); })), Outcome::kStop);
    EXPECT_EQ(b.waiters(), 0u);
    b.gate.finish();
    EXPECT_EQ(outcome(b.runner), Outcome::kReturned);
    EXPECT_EQ(b.lazy.force(), 42);
  });
}

// (b) Canceled while waiting for the forcer: throws its reason, leaves no trigger behind, and
// the value is not affected.
TEST(LazyTest, WaitingForcerCanceledWhileWaiting) {
  picos::testing::run([] {
    BlockedLazy b;
    Computation<void> victim;
    auto victim_done = spawn_in(victim, [l = b.lazy] { (void)l.force(); });
    yield_until([&] { return b.waiters() == 1; });
    victim.cancel(testing::stop());
    EXPECT_EQ(outcome(victim_done), Outcome::kStop);
    EXPECT_EQ(b.waiters(), 0u);
    EXPECT_FALSE(b.lazy.is_value());
    b.gate.finish();
    EXPECT_EQ(outcome(b.runner), Outcome::kReturned);
    EXPECT_EQ(b.lazy.force(), 42);
    EXPECT_TRUE(b.lazy.is_value());
  });
}

// (c) Cancelation racing the value: the waiter gets 42 or Stop; the Lazy always ends with 42.
TEST(LazyTest, CancelRacingTheValue) {
  picos::testing::run([] {
    for (int round = 0; round < race_rounds(); ++round) {
      BlockedLazy b;
      Computation<void> victim;
      auto victim_done = spawn_in(victim, [l = b.lazy] { EXPECT_EQ(l.force(), 42); });
      if (round % 4 < 2) yield_until([&] { return b.waiters() == 1; });
      if (round % 2) {
        b.gate.finish();
        victim.cancel(testing::stop());
      } else {
        victim.cancel(testing::stop());
        b.gate.finish();
      }
      Outcome o = outcome(victim_done);
      EXPECT_TRUE(o == Outcome::kReturned || o == Outcome::kStop) << o << " round " << round;
      EXPECT_EQ(outcome(b.runner), Outcome::kReturned) << "round " << round;
      EXPECT_EQ(b.lazy.force(), 42);
    }
  });
}

// ---- Stream ------------------------------------------------------------------------------

TEST(StreamTest, EveryReaderSeesEveryValueInOrder) {
  picos::testing::run([] {
    Stream<int> s;
    const int writers = 3, per_writer = picos::testing::kSanitizer ? 100 : 500;
    const int readers = testing::fibers(20);
    std::vector<Computation<void>> done;
    for (int r = 0; r < readers; ++r) {
      done.push_back(testing::fork([c = s.tap()]() mutable {
        std::vector<int> last(writers, -1);
        for (int i = 0; i < writers * per_writer; ++i) {
          auto [v, next] = c.read();
          int w = v / per_writer, k = v % per_writer;
          EXPECT_EQ(k, last[static_cast<size_t>(w)] + 1) << "writer " << w;
          last[static_cast<size_t>(w)] = k;
          c = std::move(next);
        }
        EXPECT_FALSE(c.peek().has_value());  // nothing more
      }));
    }
    for (int w = 0; w < writers; ++w) {
      done.push_back(testing::fork([s, w] {
        for (int k = 0; k < per_writer; ++k) {
          s.push(w * per_writer + k);
          if (k % 16 == 0) Fiber::yield();
        }
      }));
    }
    testing::await_all(done);
    for (auto& d : done) EXPECT_EQ(outcome(d), Outcome::kReturned);
  });
}

TEST(StreamTest, TapSeesOnlyLaterValuesAndReadingDoesNotConsume) {
  picos::testing::run([] {
    Stream<std::string> s;
    s.push("before");
    auto c = s.tap();
    EXPECT_FALSE(c.peek().has_value());
    auto c2 = s.tap();
    EXPECT_TRUE(c == c2);
    s.push("a");
    s.push("b");
    auto [a, after_a] = c.read();
    EXPECT_EQ(a, "a");
    EXPECT_EQ(c.read().first, "a");  // the cursor is a position: read again, same value
    EXPECT_EQ(c2.peek()->first, "a");
    EXPECT_EQ(after_a.read().first, "b");
    auto end = s.tap();
    EXPECT_FALSE(end.peek().has_value());
    EXPECT_TRUE(after_a.read().second == end);
  });
}

TEST(StreamTest, PoisonWakesReadersAndRejectsPushes) {
  picos::testing::run([] {
    Stream<int> s;
    auto early = s.tap();
    s.push(1);
    auto c = s.tap();
    std::vector<Computation<void>> readers;
    for (int i = 0; i < testing::fibers(10); ++i)
      readers.push_back(testing::fork([c] { (void)c.read(); }));
    yield_until([&] {
      return c.computation().bag_size_for_testing() == static_cast<size_t>(testing::fibers(10));
    });
    EXPECT_FALSE(s.is_poisoned());
    EXPECT_THROW(s.poison(nullptr), std::invalid_argument);
    s.poison(std::make_exception_ptr(std::out_of_range("closed")));
    EXPECT_TRUE(s.is_poisoned());
    for (auto& r : readers) {
      r.wait();
      EXPECT_THROW(r.await(), std::out_of_range);
    }
    EXPECT_THROW(s.push(2), std::out_of_range);
    EXPECT_THROW(c.peek(), std::out_of_range);
    EXPECT_THROW(s.tap().read(), std::out_of_range);
    s.poison(testing::stop());  // the first poison wins
    EXPECT_THROW(s.push(3), std::out_of_range);
    // Values pushed before the poison are still there for cursors before them.
    auto [v, next] = early.read();
    EXPECT_EQ(v, 1);
    EXPECT_THROW(next.read(), std::out_of_range);
  });
}

TEST(StreamTest, DroppingALongBacklogDoesNotRecurse) {
  picos::testing::run([] {
    Stream<int> s;
    auto backlog = std::make_unique<Stream<int>::Cursor>(s.tap());
    for (int i = 0; i < 200000; ++i) s.push(i);
    EXPECT_EQ(backlog->read().first, 0);
    backlog.reset();  // frees 200000 cells on this fiber's stack
    s.push(-1);
  });
}

// (a) Canceled before reading: throws the reason if it would have to wait; a value already
// there is returned (no cancelation point left).
TEST(StreamTest, ReadCanceledBeforeTheCall) {
  picos::testing::run([] {
    Stream<int> s;
    auto c = s.tap();
    EXPECT_EQ(outcome(spawn_canceled([c] { (void)c.read(); })), Outcome::kStop);
    EXPECT_EQ(c.computation().bag_size_for_testing(), 0u);
    s.push(5);
    EXPECT_EQ(outcome(spawn_canceled([c] { EXPECT_EQ(c.read().first, 5); })), Outcome::kReturned);
    EXPECT_EQ(c.read().first, 5);
  });
}

// (b) Canceled while waiting: throws the reason, leaves no trigger behind, consumes nothing.
TEST(StreamTest, ReadCanceledWhileWaiting) {
  picos::testing::run([] {
    Stream<int> s;
    auto c = s.tap();
    Computation<void> victim;
    auto victim_done = spawn_in(victim, [c] { (void)c.read(); });
    yield_until([&] { return c.computation().bag_size_for_testing() == 1; });
    victim.cancel(testing::stop());
    EXPECT_EQ(outcome(victim_done), Outcome::kStop);
    EXPECT_EQ(c.computation().bag_size_for_testing(), 0u);
    s.push(7);
    EXPECT_EQ(c.read().first, 7);
  });
}

// (c) Cancelation racing a push: the reader gets the value or Stop; the value is never lost.
TEST(StreamTest, CancelRacingAPush) {
  // Each round checks that its outcome, whichever it is, is consistent. Which outcomes occur
  // depends on the scheduler (on fifo_cf, fifo_q1 and multififo_t2_cf the victim is always
  // stopped), so neither is required.
  picos::testing::run([] {
    for (int round = 0; round < race_rounds(); ++round) {
      Stream<int> s;
      auto c = s.tap();
      auto got = std::make_shared<int>(-1);
      Computation<void> victim;
      auto victim_done = spawn_in(victim, [c, got] { *got = c.read().first; });
      if (round % 4 < 2) yield_until([&] { return c.computation().bag_size_for_testing() == 1; });
      if (round % 2) {
        s.push(round);
        victim.cancel(testing::stop());
      } else {
        victim.cancel(testing::stop());
        s.push(round);
      }
      Outcome o = outcome(victim_done);
      if (o == Outcome::kReturned) {
        EXPECT_EQ(*got, round);
      } else {
        EXPECT_EQ(o, Outcome::kStop) << "round " << round;
      }
      EXPECT_EQ(c.read().first, round);  // still there for everybody
    }
  });
}

// ---- Non-cancelable operations -------------------------------------------------------------

TEST(DataTest, NonCancelableOperationsDoNotThrowInACanceledFiber) {
  picos::testing::run([] {
    Barrier b(2);
    Stream<int> s;
    auto c = s.tap();
    auto v = Lazy<int>::from_value(3);
    auto done = spawn_canceled([&, c, v] {
      EXPECT_TRUE(Fiber::current().is_canceled());
      s.push(1);
      EXPECT_EQ(c.peek()->first, 1);
      EXPECT_EQ(c.read().first, 1);  // available: no wait, no cancelation point
      auto end = s.tap();
      EXPECT_FALSE(end.peek().has_value());
      s.poison(std::make_exception_ptr(std::out_of_range("closed")));
      EXPECT_TRUE(s.is_poisoned());
      b.poison();
      EXPECT_TRUE(b.is_poisoned());
      EXPECT_EQ(b.parties(), 2);
      EXPECT_EQ(b.arrived(), 0);
      EXPECT_TRUE(v.is_value());
      EXPECT_EQ(*v.peek(), 3);
      EXPECT_EQ(v.force(), 3);
      EXPECT_EQ(Lazy<int>::from_value(4).force(), 4);
    });
    EXPECT_EQ(outcome(done), Outcome::kReturned);
  });
}

}  // namespace
}  // namespace picos::sync
