// Copyright 2026 The Picos for C++ Authors.
//
// Lock and Lock::Condition on every scheduler of the conformance matrix: what is Lock's own
// (its size, poisoning by holding/protect, its condition variable). What Lock shares
// with Mutex, Rwlock and Sem -- exclusion, try_lock, the standard lock concepts, poisoning
// waiters, cancelation injected at lock and at a condition wait, the cancelation stresses,
// a bounded buffer on two conditions, misuse -- is in exclusion_test.cc.

#include "std/sync/lock.h"

#include <atomic>
#include <memory>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/sync/errors.h"
#include "std/sync/lock_testing.h"
#include "std/sync/sync_testing.h"

namespace picos::sync {
namespace {

TEST(LockTest, IsOneWord) { EXPECT_EQ(sizeof(Lock), 8u); }

TEST(LockTest, TryAcquireSequence) {
  picos::testing::run([] {
    Lock l;
    EXPECT_TRUE(l.try_acquire());
    EXPECT_FALSE(l.try_acquire());
    l.release();
    EXPECT_TRUE(l.try_acquire());
    l.poison();
    EXPECT_THROW(l.try_acquire(), Poisoned);
    try {
      l.acquire();
      ADD_FAILURE();
    } catch (const Poisoned& e) {
      EXPECT_STREQ(e.what(), "picos::sync::Lock::acquire: poisoned");
    }
  });
}

TEST(LockTest, HoldingPoisonsOnExceptionProtectReleases) {
  picos::testing::run([] {
    Lock l;
    EXPECT_EQ(l.holding([] { return 42; }), 42);
    EXPECT_FALSE(l.is_locked());
    EXPECT_THROW(l.protect([]() -> int { throw testing::Stop(); }), testing::Stop);
    EXPECT_FALSE(l.is_locked());
    EXPECT_FALSE(l.is_poisoned());
    int x = 0;
    int& r = l.protect([&]() -> int& { return x; });
    EXPECT_EQ(&r, &x);
    EXPECT_THROW(l.holding([] { throw testing::Stop(); }), testing::Stop);
    EXPECT_TRUE(l.is_poisoned());
    EXPECT_TRUE(l.is_locked());
    EXPECT_THROW(l.acquire(), Poisoned);
  });
}

TEST(LockTest, ConditionWaitersUnderHoldingAndProtectSeePoisoned) {
  picos::testing::run([] {
    Lock l;
    Lock::Condition c;
    EXPECT_EQ(
        testing::poisoned_condition_waiters(
            l, c, [&] { l.holding([&] { c.wait(l); }); }, [&] { l.protect([&] { c.wait(l); }); }),
        2);
    EXPECT_THROW(l.acquire(), Poisoned);
    EXPECT_THROW(c.wait(l), Poisoned);
    EXPECT_EQ(testing::parked_for_testing(), 0u);
  });
}

TEST(LockTest, ConditionSignalAndBroadcastWakeWaiters) {
  picos::testing::run([] {
    for (bool returned_computation : {false, true}) {
      for (bool broadcast : {false, true}) {
        Lock l;
        Lock::Condition c;
        const int n = 10;
        std::atomic<int> woke{0};
        for (int i = 0; i < n; ++i) {
          // A fiber whose computation already returned must still suspend and resume.
          Computation<void> comp;
          if (returned_computation) comp.finish();
          Fiber::spawn(Fiber::create(comp), [&] {
            l.protect([&] { c.wait(l); });
            ++woke;
          });
        }
        testing::wait_parked(n);
        while (woke.load() < n) {
          if (broadcast) {
            c.broadcast();
          } else {
            c.signal();
          }
          Fiber::yield();
        }
        EXPECT_EQ(woke.load(), n);
        EXPECT_TRUE(testing::eventually([&] { return !l.is_locked(); }));
        EXPECT_EQ(testing::parked_for_testing(), 0u);
      }
    }
  });
}

// A Lock may be destroyed by whoever takes it last, even while the fiber that released it
// before is still in release(): its word went to 0 by a compare-and-swap, then release()
// signals the parking lot, which must not read the word unless a fiber is parked on it
// (std/awaitable/awaitable.cc). The taker below releases a contended lock (it slept for it)
// with nobody parked; the main fiber takes it by the fast path the moment the word is 0,
// releases it and frees it. ASan reports a read of the freed word.
TEST(LockTest, MayBeDestroyedRightAfterAContendedRelease) {
  picos::testing::run([] {
    for (int round = 0; round < (testing::threads_are_fibers() ? 50 : 300); ++round) {
      auto* l = new Lock();
      l->acquire();
      auto releasing = std::make_shared<std::atomic<bool>>(false);
      auto calling = std::make_shared<std::atomic<bool>>(false);
      testing::Victim taker = testing::spawn_victim([l, releasing, calling] {
        *calling = true;
        l->acquire();  // sleeps: the lock stays contended after it wakes with it
        *releasing = true;
        l->release();
      });
      while (!calling->load()) Fiber::yield();
      for (int i = 0; i < 3; ++i) Fiber::yield();
      l->release();
      while (!releasing->load()) Fiber::yield();
      l->acquire();
      l->release();
      delete l;
      taker.done.await();
    }
  });
}

}  // namespace
}  // namespace picos::sync
