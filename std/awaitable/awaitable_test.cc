// Copyright 2026 The Picos for C++ Authors.
//
// picos::awaitable::Awaitable and Awaiter on every scheduler of the conformance matrix.

#include "std/awaitable/awaitable.h"

#include <atomic>
#include <memory>
#include <stdexcept>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/sync/sync_testing.h"

namespace picos::awaitable {
namespace {

namespace st = picos::sync::testing;

// Yields until `n` nodes are parked in the whole parking lot.
void wait_parked(std::size_t n) {
  while (parked_for_testing() < n) Fiber::yield();
}

// Yields (and naps now and then) until `pred()` holds or a generous bound is reached.
template <typename P>
bool eventually(P pred) {
  for (int i = 0; i < 4000; ++i) {
    if (pred()) return true;
    Fiber::yield();
    if (i % 200 == 199) Fiber::sleep(0.001);
  }
  return pred();
}

void cancel(const PackedComputation& c) { c.cancel(st::stop()); }

TEST(AwaitableTest, IsOneWordAndActsAsAnAtomic) {
  Awaitable a(5);
  EXPECT_EQ(sizeof(a), 8u);
  EXPECT_EQ(a.load(), 5);
  a.store(6);
  EXPECT_EQ(a.exchange(7), 6);
  std::int64_t expected = 0;
  EXPECT_FALSE(a.compare_exchange(expected, 1));
  EXPECT_EQ(expected, 7);
  EXPECT_TRUE(a.compare_exchange(expected, 8));
  EXPECT_EQ(a.fetch_add(2), 8);
  EXPECT_EQ(a.fetch_sub(1), 10);
  EXPECT_EQ(a.fetch_or(16), 9);
  EXPECT_EQ(a.fetch_and(16), 25);
  EXPECT_EQ(a.load(), 16);
  EXPECT_FALSE(a.signal());  // nobody waits
  EXPECT_EQ(a.broadcast(), 0u);
}

TEST(AwaitableTest, AwaitReturnsAtOnceWhenTheValueDiffers) {
  picos::testing::run([] {
    Awaitable a(1);
    a.await(0);  // must not suspend: nobody would wake us
    EXPECT_EQ(parked_for_testing(), 0u);
  });
}

TEST(AwaitableTest, AtomicUpdatesDoNotWakeButSignalDoes) {
  picos::testing::run([] {
    Awaitable a(0);
    std::atomic<int> woke{0};
    st::Victim v = st::spawn_victim([&] {
      while (a.load() == 0) a.await(0);
      ++woke;
    });
    wait_parked(1);
    EXPECT_FALSE(a.signal());  // value unchanged: the waiter is not signalable
    a.store(1);                // no wake-up from the update itself
    for (int i = 0; i < 20; ++i) Fiber::yield();
    EXPECT_EQ(woke.load(), 0);
    EXPECT_EQ(parked_for_testing(), 1u);
    EXPECT_TRUE(a.signal());
    v.done.await();
    EXPECT_EQ(woke.load(), 1);
    EXPECT_EQ(parked_for_testing(), 0u);
    v.c.await();
  });
}

TEST(AwaitableTest, SignalWakesTheOldestSignalableWaiterFirst) {
  picos::testing::run([] {
    Awaitable a(0);
    const int n = 4;
    std::vector<int> order;
    std::vector<st::Victim> vs;
    // Waiters 0..3 wait for "not 0" in arrival order; waiter 4 waits for "not 1".
    for (int i = 0; i < n; ++i) {
      vs.push_back(st::spawn_victim([&a, &order, i] {
        a.await(0);
        order.push_back(i);
      }));
      wait_parked(static_cast<std::size_t>(i) + 1);
    }
    a.store(1);
    st::Victim late = st::spawn_victim([&a, &order] {
      a.await(1);
      order.push_back(99);
    });
    wait_parked(n + 1);
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(a.signal());
      vs[static_cast<std::size_t>(i)].done.await();  // one at a time: `order` needs no lock
    }
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
    EXPECT_FALSE(a.signal());  // only the late waiter is left, and it is not signalable
    EXPECT_EQ(parked_for_testing(), 1u);
    a.store(2);
    EXPECT_TRUE(a.signal());
    late.done.await();
    EXPECT_EQ(order.back(), 99);
  });
}

TEST(AwaitableTest, BroadcastWakesEverySignalableWaiterOnly) {
  picos::testing::run([] {
    Awaitable a(0);
    const int n = st::fibers(30);
    std::atomic<int> woke{0};
    std::vector<st::Victim> vs;
    for (int i = 0; i < n; ++i) {
      vs.push_back(st::spawn_victim([&] {
        a.await(0);
        ++woke;
      }));
    }
    wait_parked(static_cast<std::size_t>(n));
    a.store(1);
    st::Victim other = st::spawn_victim([&] {
      a.await(1);
      woke += 1000;
    });
    wait_parked(static_cast<std::size_t>(n) + 1);
    EXPECT_EQ(a.broadcast(), static_cast<std::size_t>(n));
    for (auto& v : vs) v.done.await();
    EXPECT_EQ(woke.load(), n);
    EXPECT_EQ(parked_for_testing(), 1u);
    a.store(2);
    EXPECT_EQ(a.broadcast(), 1u);
    other.done.await();
    EXPECT_EQ(woke.load(), n + 1000);
  });
}

TEST(AwaitableTest, AbaIsNotSeenAsAChange) {
  picos::testing::run([] {
    Awaitable a(0);
    st::Victim v = st::spawn_victim([&] { a.await(0); });
    wait_parked(1);
    a.store(1);
    a.store(0);                // changed and changed back: documented ABA
    EXPECT_FALSE(a.signal());  // the waiter's condition looks unchanged
    EXPECT_EQ(parked_for_testing(), 1u);
    a.store(1);
    EXPECT_TRUE(a.signal());
    v.done.await();
  });
}

TEST(AwaitableTest, WaitersOnDifferentAwaitablesAreIndependent) {
  picos::testing::run([] {
    const int n = st::fibers(64);
    std::unique_ptr<Awaitable[]> as(new Awaitable[static_cast<std::size_t>(n)]);
    std::atomic<int> woke{0};
    std::vector<st::Victim> vs;
    for (int i = 0; i < n; ++i) {
      vs.push_back(st::spawn_victim([&as, &woke, i] {
        while (as[i].load() == 0) as[i].await(0);
        ++woke;
      }));
    }
    wait_parked(static_cast<std::size_t>(n));
    for (int i = 0; i < n; i += 2) as[i].store(1);
    for (int i = 1; i < n; i += 2) EXPECT_EQ(as[i].broadcast(), 0u);  // value unchanged
    for (int i = 0; i < n; i += 2) EXPECT_TRUE(as[i].signal());
    for (int i = 0; i < n; i += 2) vs[static_cast<std::size_t>(i)].done.await();
    EXPECT_EQ(woke.load(), (n + 1) / 2);
    EXPECT_EQ(parked_for_testing(), static_cast<std::size_t>(n / 2));
    for (int i = n - 1; i >= 0; --i) {
      as[i].store(1);
      (void)as[i].signal();
    }
    for (auto& v : vs) v.done.await();
    EXPECT_EQ(woke.load(), n);
    EXPECT_EQ(parked_for_testing(), 0u);
  });
}

TEST(AwaiterTest, AddedTriggersAreAlwaysSignalableAndRemovable) {
  picos::testing::run([] {
    Awaitable a(0);
    Trigger t1, t2;
    {
      Awaiter w1(a, t1);
      Awaiter w2(a, t2);
      EXPECT_EQ(parked_for_testing(), 2u);
      EXPECT_TRUE(a.signal());  // value unchanged, but an Awaiter is always signalable
      EXPECT_TRUE(t1.is_signaled());
      EXPECT_FALSE(t2.is_signaled());
      EXPECT_FALSE(w1.remove());  // consumed by the signal
      EXPECT_TRUE(w2.remove());   // still queued: removed now, nothing forwarded
      EXPECT_FALSE(w2.remove());  // idempotent
      EXPECT_FALSE(a.signal());
      EXPECT_FALSE(t2.is_signaled());
    }
    {
      Trigger t3;
      Awaiter w3(a, t3);
      EXPECT_EQ(a.broadcast(), 1u);
      EXPECT_EQ(t3.await(), nullptr);  // already signaled: returns at once
    }
    {
      Trigger t4;
      Awaiter w4(a, t4);
    }  // the destructor unqueues it
    EXPECT_EQ(parked_for_testing(), 0u);
  });
}

TEST(AwaiterTest, WaitsForOneOfSeveralThings) {
  picos::testing::run([] {
    Awaitable a(0), b(0);
    std::atomic<int> which{0};
    st::Victim v = st::spawn_victim([&] {
      Trigger t;
      Awaiter wa(a, t);
      Awaiter wb(b, t);
      EXPECT_EQ(t.await(), nullptr);
      which = wa.remove() ? 2 : 1;  // b woke us: a's node is still queued
      EXPECT_FALSE(wb.remove());
    });
    wait_parked(2);
    EXPECT_TRUE(b.signal());
    v.done.await();
    EXPECT_EQ(which.load(), 2);
    EXPECT_EQ(parked_for_testing(), 0u);
  });
}

// ---- cancelation injected at the suspension point ---------------------------------------

// (a) Already canceled when it calls await: it throws without suspending if it would have
// to wait, and returns normally if the value already differs (no suspension, no check).
TEST(AwaitableCancelTest, CanceledBeforeAwait) {
  picos::testing::run([] {
    Awaitable a(0);
    std::atomic<int> stage{0};
    st::Victim v = st::spawn_victim([&] {
      Fiber::current().get_computation().cancel(st::stop());
      a.await(1);  // value differs: returns
      stage = 1;
      try {
        a.await(0);
        stage = 100;
      } catch (const st::Stop&) {
        stage = 2;
      }
    });
    v.done.await();
    EXPECT_EQ(stage.load(), 2);
    EXPECT_EQ(parked_for_testing(), 0u);
    EXPECT_THROW(v.c.await(), st::Stop);
  });
}

// (b) Canceled while suspended: throws the reason and leaves no node behind.
TEST(AwaitableCancelTest, CanceledWhileSuspended) {
  picos::testing::run([] {
    Awaitable a(0);
    std::atomic<bool> returned{false};
    st::Victim v = st::spawn_victim([&] {
      a.await(0);
      returned = true;
    });
    wait_parked(1);
    cancel(v.c);
    v.done.await();
    EXPECT_FALSE(returned.load());
    EXPECT_THROW(v.c.await(), st::Stop);
    EXPECT_EQ(parked_for_testing(), 0u);
    a.store(1);
    EXPECT_FALSE(a.signal());  // as if it never waited
  });
}

// (c) A signal racing with the cancelation of the waiter it picks is never lost: either the
// first waiter returns normally (the wake-up reached it before the cancelation did) or the
// second waiter is woken.
TEST(AwaitableCancelTest, RacingSignalIsForwardedToTheNextWaiter) {
  picos::testing::run([] {
    const int rounds = st::threads_are_fibers() ? 30 : picos::testing::scaled(300);
    int forwarded = 0;
    for (int round = 0; round < rounds; ++round) {
      Awaitable a(0);
      std::atomic<bool> first_returned{false};
      st::Victim first = st::spawn_victim([&] {
        a.await(0);
        first_returned = true;
      });
      wait_parked(1);
      std::atomic<bool> second_woke{false};
      st::Victim second = st::spawn_victim([&] {
        while (a.load() == 0) a.await(0);
        second_woke = true;
      });
      wait_parked(2);
      a.store(1);
      if (round % 2) {
        (void)a.signal();
        cancel(first.c);
      } else {
        cancel(first.c);
        (void)a.signal();
      }
      first.done.await();
      if (first_returned.load()) {
        (void)a.signal();  // the first consumed the wake-up legitimately: wake the second
      } else {
        EXPECT_THROW(first.c.await(), st::Stop);
        ++forwarded;
      }
      if (!eventually([&] { return second_woke.load(); })) {
        ADD_FAILURE() << "lost wake-up in round " << round;
        (void)a.broadcast();
      }
      second.done.await();
      ASSERT_EQ(parked_for_testing(), 0u) << "round " << round;
    }
    EXPECT_GT(forwarded, 0);  // the interesting outcome happened at least once
  });
}

TEST(AwaitableCancelTest, StressManyWaitersSomeCanceledNoneLost) {
  picos::testing::run([] {
    Awaitable a(0);
    const int n = st::fibers(200);
    std::atomic<int> woke{0}, canceled{0};
    std::vector<st::Victim> vs;
    for (int i = 0; i < n; ++i) {
      vs.push_back(st::spawn_victim([&] {
        try {
          while (a.load() == 0) a.await(0);
          ++woke;
        } catch (const st::Stop&) {
          ++canceled;
        }
      }));
    }
    wait_parked(static_cast<std::size_t>(n));
    a.store(1);
    // One signal per waiter, interleaved with cancelations of every third waiter.
    for (int i = 0; i < n; ++i) {
      if (i % 3 == 0) cancel(vs[static_cast<std::size_t>(i)].c);
      (void)a.signal();
    }
    for (auto& v : vs) v.done.await();  // a lost wake-up would hang here
    EXPECT_EQ(woke.load() + canceled.load(), n);
    EXPECT_EQ(parked_for_testing(), 0u);
  });
}

}  // namespace
}  // namespace picos::awaitable
