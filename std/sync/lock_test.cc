// Copyright 2026 The Picos for C++ Authors.
//
// Lock and Lock::Condition on every scheduler of the conformance matrix: what is Lock's own
// (its size, poisoning by holding/protect, misuse, its condition variable). What Lock shares
// with Mutex, Rwlock and Sem -- exclusion, try_lock, the standard lock concepts, poisoning
// waiters, cancelation injected at lock and at a condition wait, the cancelation stresses --
// is in exclusion_test.cc.

#include "std/sync/lock.h"

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/sync/errors.h"
#include "std/sync/lock_testing.h"
#include "std/sync/sync_testing.h"

namespace picos::sync {
namespace {

using testing::await_all;
using testing::eventually;
using testing::fibers;
using testing::fork;
using testing::fork_counting_poisoned;
using testing::parked_for_testing;
using testing::Stop;
using testing::wait_parked;

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
    EXPECT_THROW(l.protect([]() -> int { throw Stop(); }), Stop);
    EXPECT_FALSE(l.is_locked());
    EXPECT_FALSE(l.is_poisoned());
    int x = 0;
    int& r = l.protect([&]() -> int& { return x; });
    EXPECT_EQ(&r, &x);
    EXPECT_THROW(l.holding([] { throw Stop(); }), Stop);
    EXPECT_TRUE(l.is_poisoned());
    EXPECT_TRUE(l.is_locked());
    EXPECT_THROW(l.acquire(), Poisoned);
  });
}

TEST(LockTest, ConditionWaitersUnderHoldingAndProtectSeePoisoned) {
  picos::testing::run([] {
    Lock l;
    Lock::Condition c;
    std::atomic<int> poisoned{0};
    auto a = fork_counting_poisoned(poisoned, [&] { l.holding([&] { c.wait(l); }); });
    auto b = fork_counting_poisoned(poisoned, [&] { l.protect([&] { c.wait(l); }); });
    wait_parked(2);
    l.acquire();
    l.poison();
    c.broadcast();
    a.await();
    b.await();
    EXPECT_EQ(poisoned.load(), 2);
    EXPECT_THROW(l.acquire(), Poisoned);
    EXPECT_THROW(c.wait(l), Poisoned);
    EXPECT_EQ(parked_for_testing(), 0u);
  });
}

TEST(LockTest, MisuseIsReported) {
  picos::testing::run([] {
    Lock l;
    Lock::Condition c;
    EXPECT_THROW(l.release(), std::logic_error);
    EXPECT_THROW(l.poison(), std::logic_error);
    EXPECT_FALSE(l.is_poisoned());
    EXPECT_THROW(c.wait(l), std::logic_error);
    EXPECT_EQ(parked_for_testing(), 0u);  // the failed wait queued nothing
    c.signal();
    c.broadcast();
    EXPECT_TRUE(l.try_acquire());
    l.release();
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
        wait_parked(n);
        while (woke.load() < n) {
          if (broadcast) {
            c.broadcast();
          } else {
            c.signal();
          }
          Fiber::yield();
        }
        EXPECT_EQ(woke.load(), n);
        EXPECT_TRUE(eventually([&] { return !l.is_locked(); }));
        EXPECT_EQ(parked_for_testing(), 0u);
      }
    }
  });
}

TEST(LockTest, BoundedBufferWithTwoConditions) {
  picos::testing::run([] {
    Lock l;
    Lock::Condition not_full, not_empty;
    std::vector<int> buffer;
    const int producers = fibers(8), items = 100;
    long sum = 0;
    std::vector<Computation<void>> done;
    for (int p = 0; p < producers; ++p) {
      done.push_back(fork([&] {
        for (int i = 1; i <= items; ++i) {
          std::lock_guard<Lock> guard(l);
          not_full.wait(l, [&] { return buffer.size() < 4; });
          buffer.push_back(i);
          not_empty.signal();
        }
      }));
      done.push_back(fork([&] {
        for (int i = 0; i < items; ++i) {
          std::lock_guard<Lock> guard(l);
          not_empty.wait(l, [&] { return !buffer.empty(); });
          sum += buffer.back();
          buffer.pop_back();
          not_full.signal();
        }
      }));
    }
    await_all(done);
    for (auto& d : done) d.await();
    EXPECT_EQ(sum, static_cast<long>(producers) * items * (items + 1) / 2);
  });
}

}  // namespace
}  // namespace picos::sync
