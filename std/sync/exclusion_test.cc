// Copyright 2026 The Picos for C++ Authors.
//
// What every mutual-exclusion primitive of std/sync shares, as GoogleTest typed tests on
// every scheduler of the conformance matrix: Mutex, Lock, Rwlock (its write side) and Sem used
// as a binary semaphore. Each primitive's own behaviour (owner checks, poisoning details,
// readers, counting) is tested beside it: sync_test.cc (Mutex), lock_test.cc, rwlock_test.cc,
// sem_test.cc.

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/sync/condition.h"
#include "std/sync/errors.h"
#include "std/sync/lock.h"
#include "std/sync/lock_testing.h"
#include "std/sync/mutex.h"
#include "std/sync/rwlock.h"
#include "std/sync/sem.h"
#include "std/sync/sync_testing.h"

namespace picos::sync {
namespace {

// Sem(1) as a lock: the adapter gives it Lockable's names.
class BinarySem : public Sem {
 public:
  BinarySem() : Sem(1) {}
  void lock() { acquire(); }
  void unlock() { release(); }
  bool try_lock() { return try_acquire(); }
};

// What differs between the primitives, for the shared tests.
template <typename T>
struct Traits;

template <>
struct Traits<Mutex> {
  static constexpr bool kParks = false;  // its own waiter list, not std/awaitable's lot
  using Condition = sync::Condition;
};

template <>
struct Traits<Lock> {
  static constexpr bool kParks = true;
  using Condition = Lock::Condition;
  static void check_poisoned(Lock& l) {
    EXPECT_TRUE(l.is_locked());  // a poisoned lock stays locked
    EXPECT_TRUE(l.is_poisoned());
    l.release();  // a no-op now
    l.poison();   // idempotent
    EXPECT_TRUE(l.is_locked());
    EXPECT_TRUE(l.is_poisoned());
  }
};

template <>
struct Traits<Rwlock> {
  static constexpr bool kParks = true;
  using Condition = Rwlock::Condition;
  static void check_poisoned(Rwlock& rw) {
    rw.release();  // no-op
    rw.release_shared();
    EXPECT_TRUE(rw.is_locked());
    EXPECT_FALSE(rw.is_locked_shared());
    EXPECT_TRUE(rw.is_poisoned());
    EXPECT_THROW(rw.sharing([] {}), Poisoned);
  }
};

template <>
struct Traits<BinarySem> {
  static constexpr bool kParks = true;
  static void check_poisoned(BinarySem& s) {
    EXPECT_EQ(s.value(), 0);
    s.release();  // silent no-op
    EXPECT_TRUE(s.is_poisoned());
    EXPECT_EQ(s.value(), 0);
  }
};

// Whether `m` is free and, once taken, exclusive; leaves it free.
template <typename T>
bool free_and_exclusive(T& m) {
  if (!m.try_lock()) return false;
  const bool exclusive = !m.try_lock();
  if (!exclusive) m.unlock();
  m.unlock();
  return exclusive;
}

template <typename T>
void expect_nothing_parked() {
  if constexpr (Traits<T>::kParks) {
    EXPECT_EQ(testing::parked_for_testing(), 0u);
  }
}

// ---- every primitive -------------------------------------------------------------------

template <typename T>
class ExclusionTest : public ::testing::Test {};
using AllLocks = ::testing::Types<Mutex, Lock, Rwlock, BinarySem>;
TYPED_TEST_SUITE(ExclusionTest, AllLocks);

TYPED_TEST(ExclusionTest, MutualExclusionAcrossSuspension) {
  picos::testing::run([] {
    TypeParam m;
    long value = 0;
    std::atomic<int> inside{0};
    const int n = testing::fibers(100), k = 50;
    std::vector<Computation<void>> done;
    for (int i = 0; i < n; ++i) {
      done.push_back(testing::fork([&] {
        for (int j = 0; j < k; ++j) {
          std::lock_guard<TypeParam> guard(m);
          EXPECT_EQ(++inside, 1);
          long x = value;
          Fiber::yield();
          value = x + 1;
          --inside;
        }
      }));
    }
    testing::await_all(done);
    for (auto& d : done) d.await();
    EXPECT_EQ(value, static_cast<long>(n) * k);
    EXPECT_TRUE(free_and_exclusive(m));
    expect_nothing_parked<TypeParam>();
  });
}

TYPED_TEST(ExclusionTest, TryLockSequence) {
  picos::testing::run([] {
    TypeParam m;
    EXPECT_TRUE(m.try_lock());
    EXPECT_FALSE(m.try_lock());
    testing::fork([&] { EXPECT_FALSE(m.try_lock()); }).await();  // nor can another fiber
    m.unlock();
    EXPECT_TRUE(m.try_lock());
    m.unlock();
  });
}

TYPED_TEST(ExclusionTest, ModelsTheStandardLockConcepts) {
  picos::testing::run([] {
    TypeParam a, b;
    {
      std::scoped_lock both(a, b);
      EXPECT_FALSE(a.try_lock());
      EXPECT_FALSE(b.try_lock());
    }
    EXPECT_TRUE(free_and_exclusive(a));
    std::unique_lock<TypeParam> lock(a, std::try_to_lock);
    EXPECT_TRUE(lock.owns_lock());
    lock.unlock();
    {
      std::lock_guard<TypeParam> guard(b);
      EXPECT_FALSE(b.try_lock());
    }
    EXPECT_TRUE(free_and_exclusive(a));
    EXPECT_TRUE(free_and_exclusive(b));
  });
}

// Workers lock, yield and unlock while main cancels them at random: exclusion holds, no
// hand-off is lost (every worker ends) and nobody holds the lock at the end.
TYPED_TEST(ExclusionTest, CancelationStressKeepsExclusionAndLosesNoHandOff) {
  picos::testing::run([] {
    TypeParam m;
    std::atomic<int> inside{0};
    std::atomic<long> entered{0};
    const int n = testing::fibers(60);
    std::vector<testing::Victim> workers;
    for (int i = 0; i < n; ++i) {
      workers.push_back(testing::spawn_victim([&] {
        try {
          for (int j = 0; j < 200; ++j) {
            std::lock_guard<TypeParam> guard(m);
            EXPECT_EQ(++inside, 1);
            struct Leave {
              std::atomic<int>& n;
              ~Leave() { --n; }  // also when yield throws the cancelation
            } leave{inside};
            ++entered;
            if (j % 3 == 0) Fiber::yield();
          }
        } catch (const testing::Stop&) {
        }
      }));
    }
    std::mt19937 rng(7);
    for (int i = 0; i < n / 2; ++i) {
      Fiber::yield();
      testing::cancel(workers[rng() % workers.size()].c);
    }
    for (auto& w : workers) w.done.await();  // a lost hand-off would hang here
    EXPECT_TRUE(free_and_exclusive(m));
    EXPECT_GT(entered.load(), 0);
    expect_nothing_parked<TypeParam>();
  });
}

// ---- the primitives on std/awaitable's parking lot: poisoning, cancelation injection -------

template <typename T>
class ParkingLockTest : public ::testing::Test {};
using ParkingLocks = ::testing::Types<Lock, Rwlock, BinarySem>;
TYPED_TEST_SUITE(ParkingLockTest, ParkingLocks);

// The ways a fiber can wait for `m`, all woken by poisoning: lock(), and on an Rwlock also
// acquire_shared() (readers).
template <typename T>
std::vector<std::function<void()>> blocking_acquires(T& m) {
  std::vector<std::function<void()>> acquires{[&m] { m.lock(); }};
  if constexpr (std::is_same_v<T, Rwlock>) acquires.push_back([&m] { m.acquire_shared(); });
  return acquires;
}

TYPED_TEST(ParkingLockTest, PoisoningWakesEveryWaiter) {
  picos::testing::run([] {
    for (int n = 1; n <= 4; ++n) {
      TypeParam m;
      m.lock();
      const std::vector<std::function<void()>> acquires = blocking_acquires(m);
      const int waiters = n * static_cast<int>(acquires.size());
      std::atomic<int> poisoned{0};
      std::vector<Computation<void>> done;
      for (int i = 0; i < n; ++i) {
        for (const auto& acquire : acquires) {
          done.push_back(testing::fork_counting_poisoned(poisoned, acquire));
        }
      }
      testing::wait_parked(static_cast<std::size_t>(waiters));
      m.poison();
      testing::await_all(done);
      EXPECT_EQ(poisoned.load(), waiters);
      Traits<TypeParam>::check_poisoned(m);
      EXPECT_THROW(m.lock(), Poisoned);
      EXPECT_THROW(m.try_lock(), Poisoned);
      EXPECT_EQ(testing::parked_for_testing(), 0u);
    }
  });
}

// Cancelation injected into a lock() that blocks on a holder (see lock_testing.h).
TYPED_TEST(ParkingLockTest, CancelationInjectedIntoLock) {
  picos::testing::run([] {
    TypeParam m;
    testing::inject_everywhere({[&] { m.lock(); }, [&] { m.lock(); }, [&] { m.unlock(); }, [] {},
                                [&] { m.unlock(); }, [&] { return free_and_exclusive(m); }});
  });
}

// ---- every lock with its condition variable (Condition, Lock::Condition, Rwlock::Condition) --

template <typename T>
class ConditionVariableTest : public ::testing::Test {};
using LocksWithConditions = ::testing::Types<Mutex, Lock, Rwlock>;
TYPED_TEST_SUITE(ConditionVariableTest, LocksWithConditions);

TYPED_TEST(ConditionVariableTest, BoundedBufferProducersAndConsumers) {
  picos::testing::run([] {
    TypeParam m;
    typename Traits<TypeParam>::Condition not_full, not_empty;
    std::vector<int> buffer;
    const std::size_t capacity = 4;
    const int producers = testing::fibers(8), items = 200;
    long sum = 0;
    int consumed = 0;
    std::vector<Computation<void>> done;
    for (int p = 0; p < producers; ++p) {
      done.push_back(testing::fork([&] {
        for (int i = 1; i <= items; ++i) {
          std::unique_lock<TypeParam> lock(m);
          not_full.wait(m, [&] { return buffer.size() < capacity; });
          buffer.push_back(i);
          not_empty.signal();
        }
      }));
      done.push_back(testing::fork([&] {
        for (int i = 0; i < items; ++i) {
          std::unique_lock<TypeParam> lock(m);
          not_empty.wait(m, [&] { return !buffer.empty(); });
          sum += buffer.back();
          buffer.pop_back();
          ++consumed;
          not_full.signal();
        }
      }));
    }
    testing::await_all(done);
    for (auto& d : done) d.await();
    EXPECT_EQ(consumed, producers * items);
    EXPECT_EQ(sum, static_cast<long>(producers) * items * (items + 1) / 2);
  });
}

// Waiters whose predicate becomes true wake holding the lock as they waited: one signaled
// first, then every other by a broadcast. On an Rwlock, as many wait shared (wait_shared).
TYPED_TEST(ConditionVariableTest, SignalThenBroadcastWakesEveryWaiter) {
  picos::testing::run([] {
    TypeParam m;
    typename Traits<TypeParam>::Condition c;
    bool go = false;
    const int n = testing::fibers(50);
    std::atomic<int> woke{0};
    std::vector<Computation<void>> done;
    for (int i = 0; i < n; ++i) {
      done.push_back(testing::fork([&] {
        std::unique_lock<TypeParam> lock(m);
        c.wait(m, [&] { return go; });
        if constexpr (std::is_same_v<TypeParam, Rwlock>) {
          EXPECT_FALSE(m.is_locked_shared());
        }
        ++woke;
      }));
      if constexpr (std::is_same_v<TypeParam, Rwlock>) {
        done.push_back(testing::fork([&] {
          std::shared_lock<Rwlock> lock(m);
          c.wait_shared(m, [&] { return go; });
          EXPECT_FALSE(m.try_acquire());  // we hold it shared
          ++woke;
        }));
      }
    }
    if constexpr (Traits<TypeParam>::kParks) {
      testing::wait_parked(done.size());
    } else {
      Fiber::yield();
    }
    {
      std::lock_guard<TypeParam> guard(m);
      go = true;
    }
    c.signal();
    c.broadcast();
    testing::await_all(done);
    for (auto& d : done) d.await();
    EXPECT_EQ(woke.load(), static_cast<int>(done.size()));
    EXPECT_TRUE(free_and_exclusive(m));
  });
}

// ---- the locks with a condition variable (Lock::Condition, Rwlock::Condition) ------------

template <typename T>
class ConditionLockTest : public ::testing::Test {};
using ConditionLocks = ::testing::Types<Lock, Rwlock>;
TYPED_TEST_SUITE(ConditionLockTest, ConditionLocks);

TYPED_TEST(ConditionLockTest, CancelationInjectedIntoWait) {
  picos::testing::run([] {
    TypeParam l;
    typename TypeParam::Condition c;
    testing::inject_everywhere({[] {},
                                [&] {
                                  l.acquire();
                                  c.wait(l);
                                },
                                [&] {
                                  l.release();
                                  c.signal();  // pass the signal on
                                },
                                [&] {
                                  EXPECT_TRUE(l.is_locked());  // wait throws with the lock held
                                  l.release();
                                },
                                [&] { c.signal(); }, [&] { return free_and_exclusive(l); },
                                [&] { return !l.is_locked(); }});
  });
}

// Releasing, poisoning or waiting without holding the lock is a logic_error that changes
// nothing and queues nothing; on an Rwlock, the shared side too, and the write side's
// operations while it is held shared.
TYPED_TEST(ConditionLockTest, MisuseIsReported) {
  picos::testing::run([] {
    TypeParam l;
    typename TypeParam::Condition c;
    EXPECT_THROW(l.release(), std::logic_error);
    EXPECT_THROW(l.poison(), std::logic_error);
    EXPECT_THROW(c.wait(l), std::logic_error);
    if constexpr (std::is_same_v<TypeParam, Rwlock>) {
      EXPECT_THROW(l.release_shared(), std::logic_error);
      EXPECT_THROW(c.wait_shared(l), std::logic_error);
      l.acquire_shared();
      EXPECT_THROW(l.poison(), std::logic_error);
      EXPECT_THROW(l.release(), std::logic_error);
      EXPECT_THROW(c.wait(l), std::logic_error);
      l.release_shared();
    }
    EXPECT_EQ(testing::parked_for_testing(), 0u);  // the failed waits queued nothing
    c.signal();
    c.broadcast();
    EXPECT_FALSE(l.is_poisoned());
    EXPECT_TRUE(free_and_exclusive(l));
  });
}

// A canceled wait re-acquires the lock with cancelation forbidden: it waits for the holder.
TYPED_TEST(ConditionLockTest, CanceledWaitReacquiresTheLockBeforeThrowing) {
  picos::testing::run([] {
    TypeParam l;
    typename TypeParam::Condition c;
    std::atomic<int> stage{0};
    testing::Victim v = testing::spawn_victim([&] {
      l.acquire();
      try {
        c.wait(l);
      } catch (const testing::Stop&) {
        stage = 1;
        EXPECT_TRUE(l.is_locked());
        l.release();
      }
    });
    testing::wait_parked(1);
    l.acquire();  // the wait released it
    testing::cancel(v.c);
    for (int i = 0; i < 50; ++i) Fiber::yield();
    EXPECT_EQ(stage.load(), 0);  // still waiting for the lock we hold
    l.release();
    v.done.await();
    EXPECT_EQ(stage.load(), 1);
    EXPECT_FALSE(l.is_locked());
  });
}

// The spec's cancelation stress: workers acquire, wait and release while another fiber
// cancels them at random and main signals/broadcasts at random. Mutual exclusion holds
// throughout and every wait returns or throws with the lock held.
TYPED_TEST(ConditionLockTest, CancelationStressKeepsExclusionAndWaitReturnsHolding) {
  picos::testing::run([] {
    TypeParam l;
    typename TypeParam::Condition c;
    std::atomic<int> inside{0};
    long plain = 0;  // only touched with the lock held
    std::atomic<long> expected{0};
    const int n = testing::fibers(40), k = picos::testing::scaled(200);
    std::vector<testing::Victim> workers;
    for (int i = 0; i < n; ++i) {
      workers.push_back(testing::spawn_victim([&] {
        long mine = 0;
        auto step = [&] {
          EXPECT_EQ(++inside, 1);
          ++plain;
          ++mine;
          --inside;
        };
        bool held = false;
        try {
          for (int j = 0; j < k; ++j) {
            l.acquire();
            held = true;
            step();
            try {
              c.wait(l);
            } catch (...) {
              step();  // the lock is held again
              throw;
            }
            step();
            held = false;
            l.release();
          }
        } catch (const testing::Stop&) {
          if (held) l.release();
        }
        expected += mine;
      }));
    }
    Computation<void> canceler = testing::fork([&] {
      std::mt19937 rng(11);
      for (int i = 0; i < n / 2; ++i) {
        for (int y = static_cast<int>(rng() % 20); y > 0; --y) Fiber::yield();
        testing::cancel(workers[rng() % workers.size()].c);
      }
    });
    std::mt19937 rng(5);
    auto all_done = [&] {
      return std::all_of(workers.begin(), workers.end(),
                         [](const testing::Victim& v) { return !v.done.is_running(); });
    };
    while (!all_done()) {
      if (rng() % 4 == 0) {
        c.broadcast();
      } else {
        c.signal();
      }
      Fiber::yield();
    }
    canceler.await();
    EXPECT_EQ(plain, expected.load());
    EXPECT_TRUE(l.try_acquire());  // nobody holds it at the end
    l.release();
    EXPECT_EQ(testing::parked_for_testing(), 0u);
  });
}

// Release-type operations are not cancelation points: in a canceled fiber they succeed.
// Acquiring a *free* primitive also succeeds (it does not suspend, so it checks nothing).
TEST(NonCancelableTest, OperationsInACanceledFiber) {
  picos::testing::run([] {
    Lock l;
    Lock::Condition c;
    Rwlock rw, frozen;
    Sem s(0);
    std::atomic<bool> finished{false};
    testing::Victim v = testing::spawn_victim([&] {
      testing::cancel_self();
      EXPECT_THROW(Fiber::current().check(), testing::Stop);
      EXPECT_NO_THROW(l.acquire());  // free: taken without a check
      EXPECT_NO_THROW(c.signal());
      EXPECT_NO_THROW(c.broadcast());
      EXPECT_NO_THROW(l.release());
      EXPECT_NO_THROW(l.acquire());
      EXPECT_NO_THROW(l.poison());
      EXPECT_NO_THROW(rw.acquire());
      EXPECT_NO_THROW(rw.release());
      EXPECT_NO_THROW(rw.acquire_shared());
      EXPECT_NO_THROW(rw.release_shared());
      EXPECT_NO_THROW(frozen.freeze());
      EXPECT_NO_THROW(rw.acquire());
      EXPECT_NO_THROW(rw.poison());
      EXPECT_NO_THROW(s.release());
      EXPECT_NO_THROW(s.acquire());  // available: taken
      EXPECT_NO_THROW(s.release());
      EXPECT_NO_THROW(s.poison());
      EXPECT_NO_THROW(s.release());
      finished = true;
    });
    v.done.await();
    EXPECT_TRUE(finished.load());
    EXPECT_TRUE(l.is_poisoned());
    EXPECT_TRUE(rw.is_poisoned());
    EXPECT_TRUE(frozen.is_frozen());
    EXPECT_TRUE(s.is_poisoned());
  });
}

}  // namespace
}  // namespace picos::sync
