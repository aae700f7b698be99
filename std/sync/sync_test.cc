// Copyright 2026 The Picos for C++ Authors.
//
// Mutex, Condition, Semaphore, Ivar and Latch on every scheduler of the conformance matrix.
// What Mutex shares with Lock, Rwlock and Sem (exclusion, try_lock, the standard lock
// concepts, the cancelation stress) is in exclusion_test.cc; what Semaphore shares with Sem,
// in sem_test.cc.

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/sync/condition.h"
#include "std/sync/ivar.h"
#include "std/sync/latch.h"
#include "std/sync/mutex.h"
#include "std/sync/semaphore.h"
#include "std/sync/sync_testing.h"

namespace picos::sync {
namespace {

using testing::destroy_after_handoffs;
using testing::start_blocking;

// ---- Mutex -------------------------------------------------------------------------------

TEST(MutexTest, MisuseIsReported) {
  picos::testing::run([] {
    Mutex m;
    EXPECT_THROW(m.unlock(), std::logic_error);  // not locked
    m.lock();
    EXPECT_THROW(m.lock(), std::logic_error);  // would deadlock
    auto other =
        testing::fork([&] { EXPECT_THROW(m.unlock(), std::logic_error); });  // not the owner
    other.await();
    EXPECT_FALSE(m.try_lock());
    m.unlock();
    EXPECT_TRUE(m.try_lock());
    m.unlock();
    Mutex unchecked(Mutex::kUnchecked);
    unchecked.lock();
    testing::fork([&] { unchecked.unlock(); }).await();  // allowed without owner checking
    EXPECT_TRUE(unchecked.try_lock());
    unchecked.unlock();
  });
}

TEST(MutexTest, CanceledWaiterLeavesNothingBehind) {
  picos::testing::run([] {
    Mutex m;
    m.lock();
    testing::Victim victim = start_blocking([&] {
      m.lock();
      ADD_FAILURE() << "lock returned to a canceled fiber";
    });
    Fiber::sleep(0.001);  // let it reach the queue
    victim.c.cancel(testing::stop());
    victim.done.await();
    EXPECT_THROW(victim.c.await(), testing::Stop);
    m.unlock();  // nobody is waiting any more: the mutex becomes free
    EXPECT_TRUE(m.try_lock());
    m.unlock();
  });
}

// ---- Condition -------------------------------------------------------------------------

// A bounded buffer, and signal then broadcast: ConditionVariableTest (exclusion_test.cc), on
// Mutex, Lock and Rwlock alike.

TEST(ConditionTest, WaitReturnsWithTheMutexHeldWhenCanceled) {
  picos::testing::run([] {
    Mutex m;
    Condition cond;
    std::atomic<bool> waiting{false};
    Computation<void> victim;
    Computation<bool> held_after;
    Fiber::spawn(Fiber::create(victim), [&, victim, held_after] {
      m.lock();
      try {
        waiting = true;
        cond.wait(m);
        held_after.return_value(false);
      } catch (const testing::Stop&) {
        // Still ours: unlock must succeed (it throws if another fiber holds it).
        try {
          m.unlock();
          held_after.return_value(true);
        } catch (const std::logic_error&) {
          held_after.return_value(false);
        }
      }
    });
    while (!waiting.load()) Fiber::yield();
    {
      std::lock_guard<Mutex> guard(m);  // the waiter has released it
    }
    victim.cancel(testing::stop());
    EXPECT_TRUE(held_after.await());
  });
}

TEST(ConditionTest, WaitWithoutTheMutexIsRejected) {
  picos::testing::run([] {
    Mutex m;
    Condition cond;
    EXPECT_THROW(cond.wait(m), std::logic_error);
    cond.signal();  // nobody is left queued by the failed wait
    cond.broadcast();
  });
}

// ---- Semaphore ---------------------------------------------------------------------------

TEST(SemaphoreTest, CountsAndRejectsMisuse) {
  EXPECT_THROW(Semaphore(-1), std::invalid_argument);
  Semaphore s(2);
  EXPECT_TRUE(s.try_acquire());
  EXPECT_TRUE(s.try_acquire());
  EXPECT_FALSE(s.try_acquire());
  EXPECT_THROW(s.release(-1), std::invalid_argument);
  s.release(Semaphore::kMax);
  EXPECT_EQ(s.value(), Semaphore::kMax);
  EXPECT_THROW(s.release(1), std::overflow_error);
  EXPECT_EQ(s.value(), Semaphore::kMax);
}

TEST(SemaphoreTest, CanceledAcquirerPassesOnARacingRelease) {
  picos::testing::run([] {
    for (int round = 0; round < (testing::threads_are_fibers() ? 20 : 200); ++round) {
      Semaphore s(0);
      testing::Victim victim = start_blocking([&] {
        s.acquire();
        s.release();  // got it: give it back
      });
      // Release and cancel at (nearly) the same moment, in either order.
      if (round % 2) {
        s.release();
        victim.c.cancel(testing::stop());
      } else {
        victim.c.cancel(testing::stop());
        s.release();
      }
      victim.done.await();
      // Whatever happened, the unit is available again: never lost.
      ASSERT_TRUE(s.try_acquire()) << "round " << round;
    }
  });
}

// ---- destruction right after a hand-off ------------------------------------------------

// POSIX's rule for mutexes and condition variables: one may be destroyed as soon as no fiber
// uses it any more, even while the fiber that handed it over is still returning from unlock,
// signal or release. So a waker touches nothing of the primitive once it has signaled the
// waiter: on a multi-threaded scheduler the woken fiber may run at once, finish with the
// primitive through a path that takes no lock, and free it. ASan reports a waker that
// still writes to it (a spin lock released after the signal did, on the thread scheduler).
TEST(HandoffTest, TheFiberAMutexWasHandedToMayDestroyIt) {
  destroy_after_handoffs([] {
    auto* m = new Mutex();
    m->lock();
    testing::Victim taker = start_blocking([m] {
      m->lock();
      m->unlock();
      delete m;
    });
    for (int i = 0; i < 3; ++i) Fiber::yield();  // let it queue (else no hand-off: harmless)
    m->unlock();
    taker.done.await();
    taker.c.await();  // rethrows what the taker threw, if anything
  });
}

TEST(HandoffTest, TheFiberASemaphoreWasReleasedToMayDestroyIt) {
  destroy_after_handoffs([] {
    auto* s = new Semaphore(0);
    testing::Victim taker = start_blocking([s] {
      s->acquire();
      delete s;
    });
    for (int i = 0; i < 3; ++i) Fiber::yield();
    s->release();
    taker.done.await();
    taker.c.await();  // rethrows what the taker threw, if anything
  });
}

TEST(HandoffTest, TheFiberAConditionSignaledMayDestroyIt) {
  destroy_after_handoffs([] {
    auto* m = new Mutex();
    auto* c = new Condition();
    auto waiting = std::make_shared<bool>(false);  // under *m
    auto ready = std::make_shared<bool>(false);    // under *m
    testing::Victim taker = start_blocking([m, c, waiting, ready] {
      m->lock();
      *waiting = true;
      while (!*ready) c->wait(*m);
      m->unlock();
      delete c;
      delete m;
    });
    // Until the taker waits on c (it set `waiting` under m, and wait releases m).
    for (;;) {
      m->lock();
      const bool in_wait = *waiting;
      if (in_wait) *ready = true;
      m->unlock();
      if (in_wait) break;
      Fiber::yield();
    }
    c->signal();  // the only way out of its wait: it may free c as soon as this signals
    taker.done.await();
    taker.c.await();  // rethrows what the taker threw, if anything
  });
}

// A release of several units to several waiters, and a broadcast: the last of the woken
// fibers to finish frees the primitive.
TEST(HandoffTest, TheLastFiberASemaphoreReleasedManyToMayDestroyIt) {
  destroy_after_handoffs([] {
    constexpr int kTakers = 5;  // more than the release's inline buffer of woken waiters
    auto* s = new Semaphore(0);
    auto left = std::make_shared<std::atomic<int>>(kTakers);
    std::vector<testing::Victim> takers;
    for (int i = 0; i < kTakers; ++i) {
      takers.push_back(start_blocking([s, left] {
        s->acquire();
        if (left->fetch_sub(1) == 1) delete s;
      }));
    }
    for (int i = 0; i < 3; ++i) Fiber::yield();
    s->release(kTakers);
    for (testing::Victim& t : takers) {
      t.done.await();
      t.c.await();  // rethrows what the taker threw, if anything
    }
  });
}

TEST(HandoffTest, TheLastFiberAConditionBroadcastToMayDestroyIt) {
  destroy_after_handoffs([] {
    constexpr int kTakers = 3;
    auto* m = new Mutex();
    auto* c = new Condition();
    auto waiting = std::make_shared<int>(0);     // under *m
    auto ready = std::make_shared<bool>(false);  // under *m
    auto left = std::make_shared<std::atomic<int>>(kTakers);
    std::vector<testing::Victim> takers;
    for (int i = 0; i < kTakers; ++i) {
      takers.push_back(start_blocking([m, c, waiting, ready, left] {
        m->lock();
        ++*waiting;
        while (!*ready) c->wait(*m);
        m->unlock();
        if (left->fetch_sub(1) == 1) {
          delete c;
          delete m;
        }
      }));
    }
    for (;;) {
      m->lock();
      const bool all_in = *waiting == kTakers;
      if (all_in) *ready = true;
      m->unlock();
      if (all_in) break;
      Fiber::yield();
    }
    c->broadcast();
    for (testing::Victim& t : takers) {
      t.done.await();
      t.c.await();  // rethrows what the taker threw, if anything
    }
  });
}

// ---- Ivar --------------------------------------------------------------------------------

TEST(IvarTest, ReadersWaitForTheFillAndSeeTheSameValue) {
  picos::testing::run([] {
    Ivar<std::unique_ptr<int>> iv;
    EXPECT_EQ(iv.peek(), nullptr);
    std::atomic<int> sum{0};
    std::vector<Computation<void>> readers;
    for (int i = 0; i < testing::fibers(20); ++i) {
      readers.push_back(testing::fork([&, iv] { sum += *iv.read(); }));
    }
    Fiber::yield();
    iv.fill(std::make_unique<int>(5));
    testing::await_all(readers);
    EXPECT_EQ(sum.load(), 5 * testing::fibers(20));
    EXPECT_TRUE(iv.is_filled());
    EXPECT_EQ(**iv.peek(), 5);
    EXPECT_FALSE(iv.try_fill(std::make_unique<int>(6)));
    EXPECT_THROW(iv.fill(std::make_unique<int>(6)), std::logic_error);
    EXPECT_THROW(iv.poison(testing::stop()), std::logic_error);
    EXPECT_EQ(*iv.read(), 5);
  });
}

TEST(IvarTest, PoisonIsRethrownAndReadIsCancelable) {
  picos::testing::run([] {
    Ivar<int> iv;
    testing::Victim reader = start_blocking([iv] { (void)iv.read(); });
    reader.c.cancel(testing::stop());
    reader.done.await();
    EXPECT_THROW(reader.c.await(), testing::Stop);  // the reader's cancelation, not the Ivar's
    EXPECT_FALSE(iv.is_filled() || iv.is_poisoned());
    EXPECT_THROW(iv.poison(nullptr), std::invalid_argument);
    iv.poison(std::make_exception_ptr(std::runtime_error("bad")));
    EXPECT_THROW((void)iv.read(), std::runtime_error);
    EXPECT_THROW((void)iv.peek(), std::runtime_error);
    EXPECT_FALSE(iv.try_fill(1));
  });
}

// ---- Latch -------------------------------------------------------------------------------

TEST(LatchTest, ReleasesWaitersAtZero) {
  picos::testing::run([] {
    const int n = testing::fibers(50);
    Latch latch(n);
    std::atomic<int> released{0};
    std::vector<Computation<void>> done;
    for (int i = 0; i < n; ++i) {
      done.push_back(testing::fork([&] {
        latch.arrive_and_wait();
        ++released;
      }));
    }
    testing::await_all(done);
    for (auto& d : done) d.await();
    EXPECT_EQ(released.load(), n);
    EXPECT_TRUE(latch.try_wait());
    latch.wait();  // already open: returns at once
  });
}

TEST(LatchTest, MisuseIsRejectedAndWaitIsCancelable) {
  EXPECT_THROW(Latch(-1), std::invalid_argument);
  picos::testing::run([] {
    Latch latch(2);
    EXPECT_THROW(latch.count_down(-1), std::invalid_argument);
    EXPECT_THROW(latch.count_down(3), std::logic_error);
    EXPECT_EQ(latch.value(), 2);
    testing::Victim waiter = start_blocking([&] { latch.wait(); });
    waiter.c.cancel(testing::stop());
    waiter.done.await();
    EXPECT_THROW(waiter.c.await(), testing::Stop);
    EXPECT_FALSE(latch.try_wait());
    latch.count_down(2);
    EXPECT_TRUE(latch.try_wait());
    Latch zero(0);
    EXPECT_TRUE(zero.try_wait());
  });
}

}  // namespace
}  // namespace picos::sync
