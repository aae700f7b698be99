// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/lock_testing.h — what the tests of Lock, Rwlock and Sem (the primitives built on
// std/awaitable's parking lot) share: cancelation injected at one suspension point (test-only).

#ifndef PICOS_STD_SYNC_LOCK_TESTING_H_
#define PICOS_STD_SYNC_LOCK_TESTING_H_

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <utility>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/awaitable/awaitable.h"
#include "std/sync/errors.h"
#include "std/sync/sync_testing.h"

namespace picos::sync::testing {

using awaitable::parked_for_testing;

inline void cancel(const PackedComputation& c) { c.cancel(stop()); }

// Forks a fiber that runs `f` and counts it in `poisoned` if `f` throws Poisoned.
template <typename F>
Computation<void> fork_counting_poisoned(std::atomic<int>& poisoned, F f) {
  return fork([&poisoned, f = std::move(f)] {
    try {
      f();
    } catch (const Poisoned&) {
      ++poisoned;
    }
  });
}

// Cancels the current fiber's own computation: later cancelation points throw Stop.
inline void cancel_self() { cancel(Fiber::current().get_computation()); }

// Yields until `n` waiter nodes are parked (in the whole parking lot).
inline void wait_parked(std::size_t n) {
  while (parked_for_testing() < n) Fiber::yield();
}

// Two fibers, `wait_a` and `wait_b`, that wait on condition `c` of `lock` (under holding,
// protect or sharing); once both are parked, poisons `lock` and broadcasts. Returns how many
// of them saw Poisoned.
template <typename L, typename C, typename A, typename B>
int poisoned_condition_waiters(L& lock, C& c, A wait_a, B wait_b) {
  std::atomic<int> poisoned{0};
  Computation<void> a = fork_counting_poisoned(poisoned, std::move(wait_a));
  Computation<void> b = fork_counting_poisoned(poisoned, std::move(wait_b));
  wait_parked(2);
  lock.acquire();
  lock.poison();
  c.broadcast();
  a.await();
  b.await();
  return poisoned.load();
}

// Yields (and naps now and then) until `pred()` holds or a generous bound is reached.
template <typename P>
inline bool eventually(P pred) {
  for (int i = 0; i < 4000; ++i) {
    if (pred()) return true;
    Fiber::yield();
    if (i % 200 == 199) Fiber::sleep(0.001);
  }
  return pred();
}

inline int race_rounds() { return threads_are_fibers() ? 20 : picos::testing::scaled(200); }

// Cancelation injected at one suspension point. A scenario is described by:
//   block()      (main) makes `op` block, e.g. holds the lock;
//   op()         (victim) the blocking operation;
//   on_success() (victim) after `op` returned: passes on what it got (release, signal...);
//   on_throw()   (victim) after `op` threw the cancelation: checks and undoes what `op`
//                leaves held when it throws (a condition wait re-acquires the lock);
//   unblock()    (main) the hand-off: release, signal;
//   idle()       (main) true iff the primitive is back to its idle state (consumes nothing
//                it cannot give back);
//   settled()    (main, optional) true once the queued waiters are where they block: for a
//                condition wait, the lock has been released again (a waiter queues on the
//                condition before it releases the lock, and a second waiter could otherwise
//                still be queued on the lock rather than on the condition).
struct Scenario {
  std::function<void()> block, op, on_success, on_throw, unblock;
  std::function<bool()> idle;
  std::function<bool()> settled = [] { return true; };
};

// Yields until `n` nodes are parked and the scenario has settled.
inline void wait_settled(const Scenario& s, std::size_t n) {
  while (parked_for_testing() < n || !s.settled()) Fiber::yield();
}

// A waiter fiber running the scenario's `op`: if it returns, sets `*got` (if given) and
// calls on_success(); if it throws the cancelation, calls on_throw() and rethrows.
inline Victim spawn_waiter(const Scenario& s, std::atomic<bool>* got = nullptr) {
  return spawn_victim([&s, got] {
    try {
      s.op();
    } catch (const Stop&) {
      s.on_throw();
      throw;
    }
    if (got) *got = true;
    s.on_success();
  });
}

// (a) The fiber is canceled before it calls `op`, and `op` would block: it throws the
// reason at once, without suspending and without leaving a node behind.
inline void canceled_before(const Scenario& s) {
  s.block();
  std::atomic<int> outcome{0};
  Victim v = spawn_victim([&] {
    cancel_self();
    try {
      s.op();
      outcome = 1;
      s.on_success();
    } catch (const Stop&) {
      outcome = 2;
      s.on_throw();
    }
  });
  v.done.await();
  EXPECT_EQ(outcome.load(), 2);
  EXPECT_EQ(parked_for_testing(), 0u);
  s.unblock();
  EXPECT_TRUE(s.idle());
}

// (b) Canceled while suspended in `op`: throws the reason, leaves no node behind, and later
// hand-offs behave as if it never waited.
inline void canceled_while_suspended(const Scenario& s) {
  s.block();
  std::atomic<bool> returned{false};
  Victim v = spawn_waiter(s, &returned);
  wait_settled(s, 1);
  cancel(v.c);
  v.done.await();
  EXPECT_FALSE(returned.load());
  EXPECT_THROW(v.c.await(), Stop);
  EXPECT_EQ(parked_for_testing(), 0u);
  s.unblock();
  EXPECT_TRUE(s.idle());
}

// (c) The hand-off races with the cancelation of the waiter it goes to, many times, in both
// orders: a second waiter always gets it (the first either got it and passed it on, or was
// canceled and forwarded it).
inline void racing_hand_off(const Scenario& s) {
  int canceled = 0;
  for (int round = 0; round < race_rounds(); ++round) {
    s.block();
    Victim first = spawn_waiter(s);
    wait_settled(s, 1);
    std::atomic<bool> second_got{false};
    Victim second = spawn_waiter(s, &second_got);
    wait_settled(s, 2);
    if (round % 2) {
      s.unblock();
      cancel(first.c);
    } else {
      cancel(first.c);
      s.unblock();
    }
    first.done.await();
    if (first.c.is_canceled()) ++canceled;
    if (!eventually([&] { return second_got.load(); })) {
      ADD_FAILURE() << "lost hand-off in round " << round;
      cancel(second.c);
      second.done.await();
      return;
    }
    second.done.await();
    ASSERT_EQ(parked_for_testing(), 0u) << "round " << round;
    ASSERT_TRUE(s.idle()) << "round " << round;
  }
  EXPECT_GT(canceled, 0);
}

inline void inject_everywhere(const Scenario& s) {
  canceled_before(s);
  canceled_while_suspended(s);
  racing_hand_off(s);
}

}  // namespace picos::sync::testing

#endif  // PICOS_STD_SYNC_LOCK_TESTING_H_
