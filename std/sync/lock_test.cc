// Copyright 2026 The Picos for C++ Authors.
//
// Lock, Rwlock, Sem and their conditions on every scheduler of the conformance matrix: the
// test_sync cases of the Picos spec, standard-library interop, non-cancelable operations in
// a canceled fiber, and cancelation injected at every suspension point.

#include <algorithm>
#include <functional>
#include <atomic>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <stdexcept>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/awaitable/awaitable.h"
#include "std/sync/errors.h"
#include "std/sync/lock.h"
#include "std/sync/rwlock.h"
#include "std/sync/sem.h"
#include "std/sync/sync_testing.h"

namespace picos::sync {
namespace {

using awaitable::parked_for_testing;
using testing::await_all;
using testing::fibers;
using testing::fork;
using testing::Stop;
using testing::threads_are_fibers;

// ---- helpers -------------------------------------------------------------------------

using picos::sync::testing::spawn_victim;
using picos::sync::testing::Victim;

void cancel(const PackedComputation& c) { c.cancel(std::make_exception_ptr(Stop())); }

// Cancels the current fiber's own computation: later cancelation points throw Stop.
void cancel_self() { cancel(Fiber::current().get_computation()); }

// Yields until `n` waiter nodes are parked (in the whole parking lot).
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

int race_rounds() { return threads_are_fibers() ? 20 : picos::testing::scaled(200); }

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
void wait_settled(const Scenario& s, std::size_t n) {
  while (parked_for_testing() < n || !s.settled()) Fiber::yield();
}

// (a) The fiber is canceled before it calls `op`, and `op` would block: it throws the
// reason at once, without suspending and without leaving a node behind.
void canceled_before(const Scenario& s) {
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
void canceled_while_suspended(const Scenario& s) {
  s.block();
  std::atomic<bool> returned{false};
  Victim v = spawn_victim([&] {
    try {
      s.op();
      returned = true;
      s.on_success();
    } catch (const Stop&) {
      s.on_throw();
      throw;
    }
  });
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
void racing_hand_off(const Scenario& s) {
  int canceled = 0;
  for (int round = 0; round < race_rounds(); ++round) {
    s.block();
    Victim first = spawn_victim([&] {
      try {
        s.op();
      } catch (const Stop&) {
        s.on_throw();
        throw;
      }
      s.on_success();
    });
    wait_settled(s, 1);
    std::atomic<bool> second_got{false};
    Victim second = spawn_victim([&] {
      try {
        s.op();
      } catch (const Stop&) {
        s.on_throw();
        throw;
      }
      second_got = true;
      s.on_success();
    });
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

void inject_everywhere(const Scenario& s) {
  canceled_before(s);
  canceled_while_suspended(s);
  racing_hand_off(s);
}

// ---- Lock ----------------------------------------------------------------------------

TEST(LockTest, IsOneWord) { EXPECT_EQ(sizeof(Lock), 8u); }

TEST(LockTest, MutualExclusionAcrossSuspension) {
  picos::testing::run([] {
    Lock l;
    long value = 0;
    std::atomic<int> inside{0};
    const int n = fibers(100), k = 50;
    std::vector<Computation<void>> done;
    for (int i = 0; i < n; ++i) {
      done.push_back(fork([&] {
        for (int j = 0; j < k; ++j) {
          std::lock_guard<Lock> guard(l);
          EXPECT_EQ(++inside, 1);
          long x = value;
          Fiber::yield();
          value = x + 1;
          --inside;
        }
      }));
    }
    await_all(done);
    for (auto& d : done) d.await();
    EXPECT_EQ(value, static_cast<long>(n) * k);
    EXPECT_FALSE(l.is_locked());
    EXPECT_EQ(parked_for_testing(), 0u);
  });
}

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

TEST(LockTest, PoisoningWakesEveryWaiter) {
  picos::testing::run([] {
    for (int n = 1; n <= 4; ++n) {
      Lock l;
      l.acquire();
      std::atomic<int> poisoned{0};
      std::vector<Computation<void>> done;
      for (int i = 0; i < n; ++i) {
        done.push_back(fork([&] {
          try {
            l.acquire();
          } catch (const Poisoned&) {
            ++poisoned;
          }
        }));
      }
      wait_parked(static_cast<std::size_t>(n));
      l.poison();
      await_all(done);
      EXPECT_EQ(poisoned.load(), n);
      EXPECT_TRUE(l.is_locked());
      EXPECT_TRUE(l.is_poisoned());
      l.release();  // a no-op now
      l.poison();   // idempotent
      EXPECT_TRUE(l.is_locked());
      EXPECT_TRUE(l.is_poisoned());
      EXPECT_EQ(parked_for_testing(), 0u);
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
    auto a = fork([&] {
      try {
        l.holding([&] { c.wait(l); });
      } catch (const Poisoned&) {
        ++poisoned;
      }
    });
    auto b = fork([&] {
      try {
        l.protect([&] { c.wait(l); });
      } catch (const Poisoned&) {
        ++poisoned;
      }
    });
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

TEST(LockTest, ModelsTheStandardLockConcepts) {
  picos::testing::run([] {
    Lock a, b;
    {
      std::scoped_lock both(a, b);
      EXPECT_TRUE(a.is_locked());
      EXPECT_FALSE(b.try_lock());
    }
    EXPECT_FALSE(a.is_locked() || b.is_locked());
    std::unique_lock<Lock> lock(a, std::try_to_lock);
    EXPECT_TRUE(lock.owns_lock());
    lock.unlock();
    {
      std::lock_guard<Lock> guard(b);
      EXPECT_TRUE(b.is_locked());
    }
    EXPECT_FALSE(b.is_locked());
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

// Release-type operations are not cancelation points: in a canceled fiber they succeed.
// Acquiring a *free* primitive also succeeds (it does not suspend, so it checks nothing).
TEST(LockTest, NonCancelableOperationsInACanceledFiber) {
  picos::testing::run([] {
    Lock l;
    Lock::Condition c;
    Rwlock rw, frozen;
    Sem s(0);
    std::atomic<bool> finished{false};
    Victim v = spawn_victim([&] {
      cancel_self();
      EXPECT_THROW(Fiber::current().check(), Stop);
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

Scenario lock_acquire(Lock& l) {
  return {[&] { l.acquire(); },
          [&] { l.acquire(); },
          [&] { l.release(); },
          [] {},
          [&] { l.release(); },
          [&] {
            if (!l.try_acquire()) return false;
            l.release();
            return true;
          }};
}

TEST(LockCancelTest, Acquire) {
  picos::testing::run([] {
    Lock l;
    inject_everywhere(lock_acquire(l));
  });
}

Scenario lock_condition_wait(Lock& l, Lock::Condition& c) {
  return {[] {},
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
          [&] { c.signal(); },
          [&] {
            if (!l.try_acquire()) return false;
            l.release();
            return true;
          },
          [&] { return !l.is_locked(); }};
}

TEST(LockCancelTest, ConditionWait) {
  picos::testing::run([] {
    Lock l;
    Lock::Condition c;
    inject_everywhere(lock_condition_wait(l, c));
  });
}

// A canceled wait re-acquires the lock with cancelation forbidden: it waits for the holder.
TEST(LockCancelTest, CanceledWaitReacquiresTheLockBeforeThrowing) {
  picos::testing::run([] {
    Lock l;
    Lock::Condition c;
    std::atomic<int> stage{0};
    Victim v = spawn_victim([&] {
      l.acquire();
      try {
        c.wait(l);
      } catch (const Stop&) {
        stage = 1;
        EXPECT_TRUE(l.is_locked());
        l.release();
      }
    });
    wait_parked(1);
    l.acquire();  // the wait released it
    cancel(v.c);
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
template <typename L>
void cancelation_stress() {
  picos::testing::run([] {
    L l;
    typename L::Condition c;
    std::atomic<int> inside{0};
    long plain = 0;  // only touched with the lock held
    std::atomic<long> expected{0};
    const int n = fibers(40), k = picos::testing::scaled(200);
    std::vector<Victim> workers;
    for (int i = 0; i < n; ++i) {
      workers.push_back(spawn_victim([&] {
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
        } catch (const Stop&) {
          if (held) l.release();
        }
        expected += mine;
      }));
    }
    Computation<void> canceler = fork([&] {
      std::mt19937 rng(11);
      for (int i = 0; i < n / 2; ++i) {
        for (int y = static_cast<int>(rng() % 20); y > 0; --y) Fiber::yield();
        cancel(workers[rng() % workers.size()].c);
      }
    });
    std::mt19937 rng(5);
    auto all_done = [&] {
      return std::all_of(workers.begin(), workers.end(),
                         [](const Victim& v) { return !v.done.is_running(); });
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
    EXPECT_EQ(parked_for_testing(), 0u);
  });
}

TEST(LockCancelTest, StressKeepsExclusionAndWaitReturnsHolding) { cancelation_stress<Lock>(); }

// ---- Rwlock --------------------------------------------------------------------------

// The state word plus the writers' gate (a Lock): two words, no allocation.
TEST(RwlockTest, IsTwoWords) { EXPECT_EQ(sizeof(Rwlock), 16u); }

TEST(RwlockTest, ReadersShareWritersExclude) {
  picos::testing::run([] {
    Rwlock rw;
    std::atomic<int> readers{0}, writers{0}, max_readers{0};
    long value = 0;
    const int n = fibers(60), k = 40;
    std::vector<Computation<void>> done;
    for (int i = 0; i < n; ++i) {
      done.push_back(fork([&, i] {
        for (int j = 0; j < k; ++j) {
          if ((i + j) % 3 == 0) {
            std::lock_guard<Rwlock> guard(rw);
            EXPECT_EQ(++writers, 1);
            EXPECT_EQ(readers.load(), 0);
            long x = value;
            Fiber::yield();
            value = x + 1;
            --writers;
          } else {
            std::shared_lock<Rwlock> guard(rw);
            int r = ++readers;
            int m = max_readers.load();
            while (r > m && !max_readers.compare_exchange_weak(m, r)) {
            }
            EXPECT_EQ(writers.load(), 0);
            (void)value;
            Fiber::yield();
            --readers;
          }
        }
      }));
    }
    await_all(done);
    for (auto& d : done) d.await();
    long writes = 0;
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < k; ++j) writes += (i + j) % 3 == 0;
    }
    EXPECT_EQ(value, writes);
    EXPECT_FALSE(rw.is_locked() || rw.is_locked_shared());
    EXPECT_EQ(parked_for_testing(), 0u);
  });
}

TEST(RwlockTest, TryAcquireSequences) {
  picos::testing::run([] {
    Rwlock rw;
    EXPECT_TRUE(rw.try_acquire());
    EXPECT_FALSE(rw.try_acquire());
    EXPECT_FALSE(rw.try_acquire_shared());
    rw.release();
    EXPECT_TRUE(rw.try_acquire_shared());
    EXPECT_TRUE(rw.try_acquire_shared());
    EXPECT_TRUE(rw.is_locked_shared());
    EXPECT_FALSE(rw.try_acquire());
    rw.release_shared();
    rw.release_shared();
    EXPECT_TRUE(rw.try_acquire());
    rw.poison();
    EXPECT_THROW(rw.try_acquire(), Poisoned);
    EXPECT_THROW(rw.try_acquire_shared(), Poisoned);
    EXPECT_TRUE(rw.is_locked());
    EXPECT_FALSE(rw.is_locked_shared());

    Rwlock f;
    f.acquire_shared();
    f.freeze();
    EXPECT_THROW(f.try_acquire(), Frozen);
    EXPECT_TRUE(f.try_acquire_shared());
    f.release_shared();
    f.release_shared();
    EXPECT_TRUE(f.is_locked_shared());  // frozen: read-locked forever
    EXPECT_TRUE(f.is_frozen());
  });
}

TEST(RwlockTest, PoisoningWakesWritersAndReaders) {
  picos::testing::run([] {
    for (int n = 1; n <= 4; ++n) {
      Rwlock rw;
      rw.acquire();
      std::atomic<int> poisoned{0};
      std::vector<Computation<void>> done;
      for (int i = 0; i < n; ++i) {
        done.push_back(fork([&] {
          try {
            rw.acquire();
          } catch (const Poisoned&) {
            ++poisoned;
          }
        }));
        done.push_back(fork([&] {
          try {
            rw.acquire_shared();
          } catch (const Poisoned&) {
            ++poisoned;
          }
        }));
      }
      wait_parked(static_cast<std::size_t>(2 * n));
      rw.poison();
      await_all(done);
      EXPECT_EQ(poisoned.load(), 2 * n);
      rw.release();  // no-op
      rw.release_shared();
      EXPECT_TRUE(rw.is_locked());
      EXPECT_FALSE(rw.is_locked_shared());
      EXPECT_TRUE(rw.is_poisoned());
      EXPECT_THROW(rw.sharing([] {}), Poisoned);
      EXPECT_EQ(parked_for_testing(), 0u);
    }
  });
}

TEST(RwlockTest, WaitSharedWaiterSeesPoisoned) {
  picos::testing::run([] {
    Rwlock rw;
    Rwlock::Condition c;
    std::atomic<int> poisoned{0};
    auto reader = fork([&] {
      try {
        rw.sharing([&] { c.wait_shared(rw); });
      } catch (const Poisoned&) {
        ++poisoned;
      }
    });
    auto writer = fork([&] {
      try {
        rw.holding([&] { c.wait(rw); });
      } catch (const Poisoned&) {
        ++poisoned;
      }
    });
    wait_parked(2);
    rw.acquire();
    rw.poison();
    c.broadcast();
    reader.await();
    writer.await();
    EXPECT_EQ(poisoned.load(), 2);
    EXPECT_THROW(c.wait(rw), Poisoned);
    EXPECT_THROW(c.wait_shared(rw), Poisoned);
  });
}

TEST(RwlockTest, FreezingFailsWritersAndKeepsSharing) {
  picos::testing::run([] {
    Rwlock rw;
    rw.acquire_shared();
    const int n = 3;
    std::atomic<int> frozen{0};
    std::vector<Computation<void>> done;
    for (int i = 0; i < n; ++i) {
      done.push_back(fork([&] {
        try {
          rw.acquire();
        } catch (const Frozen& e) {
          EXPECT_STREQ(e.what(), "picos::sync::Rwlock::acquire: frozen");
          ++frozen;
        }
      }));
    }
    wait_parked(n);
    rw.freeze();
    await_all(done);
    EXPECT_EQ(frozen.load(), n);
    EXPECT_TRUE(rw.is_frozen());
    rw.acquire_shared();
    rw.release_shared();
    EXPECT_EQ(rw.sharing([] { return 7; }), 7);
    rw.release_shared();
    EXPECT_TRUE(rw.is_locked_shared());
    EXPECT_THROW(rw.acquire(), Frozen);
    rw.freeze();  // idempotent

    Rwlock w;
    w.acquire();
    EXPECT_THROW(w.freeze(), std::logic_error);
    w.poison();
    EXPECT_THROW(w.freeze(), Poisoned);
    Rwlock free_lock;
    free_lock.freeze();  // no hold needed when no writer holds it
    EXPECT_TRUE(free_lock.is_locked_shared());
    EXPECT_EQ(parked_for_testing(), 0u);
  });
}

TEST(RwlockTest, MisuseIsReported) {
  picos::testing::run([] {
    Rwlock rw;
    Rwlock::Condition c;
    EXPECT_THROW(rw.release(), std::logic_error);
    EXPECT_THROW(rw.release_shared(), std::logic_error);
    EXPECT_THROW(rw.poison(), std::logic_error);
    EXPECT_THROW(c.wait(rw), std::logic_error);
    EXPECT_THROW(c.wait_shared(rw), std::logic_error);
    rw.acquire_shared();
    EXPECT_THROW(rw.poison(), std::logic_error);
    EXPECT_THROW(rw.release(), std::logic_error);
    EXPECT_THROW(c.wait(rw), std::logic_error);
    rw.release_shared();
    EXPECT_EQ(parked_for_testing(), 0u);
    EXPECT_FALSE(rw.is_locked() || rw.is_locked_shared() || rw.is_poisoned());
  });
}

TEST(RwlockTest, ScopedHelpersAndStandardLocks) {
  picos::testing::run([] {
    Rwlock rw;
    Lock l;
    {
      std::shared_lock<Rwlock> a(rw);
      std::shared_lock<Rwlock> b(rw);
      EXPECT_TRUE(rw.is_locked_shared());
      EXPECT_FALSE(rw.try_lock());
    }
    {
      std::scoped_lock both(rw, l);
      EXPECT_TRUE(rw.is_locked());
      EXPECT_FALSE(rw.try_lock_shared());
    }
    {
      std::unique_lock<Rwlock> u(rw, std::try_to_lock);
      EXPECT_TRUE(u.owns_lock());
    }
    EXPECT_FALSE(rw.is_locked() || rw.is_locked_shared());
    EXPECT_THROW(rw.sharing([] { throw Stop(); }), Stop);
    EXPECT_FALSE(rw.is_locked_shared());
    EXPECT_THROW(rw.protect([] { throw Stop(); }), Stop);
    EXPECT_FALSE(rw.is_locked() || rw.is_poisoned());
    EXPECT_EQ(rw.holding([] { return 3; }), 3);
    EXPECT_THROW(rw.holding([] { throw Stop(); }), Stop);
    EXPECT_TRUE(rw.is_poisoned());
  });
}

TEST(RwlockTest, ConditionWaitAndWaitShared) {
  picos::testing::run([] {
    Rwlock rw;
    Rwlock::Condition c;
    bool go = false;
    const int n = fibers(10);
    std::atomic<int> woke{0};
    std::vector<Computation<void>> done;
    for (int i = 0; i < n; ++i) {
      done.push_back(fork([&] {
        std::lock_guard<Rwlock> guard(rw);
        c.wait(rw, [&] { return go; });
        EXPECT_FALSE(rw.is_locked_shared());
        ++woke;
      }));
      done.push_back(fork([&] {
        std::shared_lock<Rwlock> guard(rw);
        c.wait_shared(rw, [&] { return go; });
        EXPECT_FALSE(rw.try_acquire());  // we hold it shared
        ++woke;
      }));
    }
    wait_parked(static_cast<std::size_t>(2 * n));
    rw.holding([&] { go = true; });
    c.signal();  // one first, then everybody
    c.broadcast();
    await_all(done);
    for (auto& d : done) d.await();
    EXPECT_EQ(woke.load(), 2 * n);
    EXPECT_FALSE(rw.is_locked() || rw.is_locked_shared());
  });
}

TEST(RwlockCancelTest, Acquire) {
  picos::testing::run([] {
    Rwlock rw;
    inject_everywhere({[&] { rw.acquire(); },
                       [&] { rw.acquire(); },
                       [&] { rw.release(); },
                       [] {},
                       [&] { rw.release(); },
                       [&] {
                         if (!rw.try_acquire()) return false;
                         rw.release();
                         return true;
                       }});
    // Blocked by readers rather than by a writer.
    inject_everywhere({[&] { rw.acquire_shared(); },
                       [&] { rw.acquire(); },
                       [&] { rw.release(); },
                       [] {},
                       [&] { rw.release_shared(); },
                       [&] {
                         if (!rw.try_acquire()) return false;
                         rw.release();
                         return true;
                       }});
  });
}

TEST(RwlockCancelTest, AcquireShared) {
  picos::testing::run([] {
    Rwlock rw;
    inject_everywhere({[&] { rw.acquire(); },
                       [&] { rw.acquire_shared(); },
                       [&] { rw.release_shared(); },
                       [] {},
                       [&] { rw.release(); },
                       [&] {
                         if (!rw.try_acquire()) return false;
                         rw.release();
                         return true;
                       }});
  });
}

TEST(RwlockCancelTest, Wait) {
  picos::testing::run([] {
    Rwlock rw;
    Rwlock::Condition c;
    inject_everywhere({[] {},
                       [&] {
                         rw.acquire();
                         c.wait(rw);
                       },
                       [&] {
                         rw.release();
                         c.signal();
                       },
                       [&] {
                         EXPECT_TRUE(rw.is_locked());
                         rw.release();
                       },
                       [&] { c.signal(); },
                       [&] {
                         if (!rw.try_acquire()) return false;
                         rw.release();
                         return true;
                       },
                       [&] { return !rw.is_locked(); }});
  });
}

TEST(RwlockCancelTest, WaitShared) {
  picos::testing::run([] {
    Rwlock rw;
    Rwlock::Condition c;
    inject_everywhere({[] {},
                       [&] {
                         rw.acquire_shared();
                         c.wait_shared(rw);
                       },
                       [&] {
                         rw.release_shared();
                         c.signal();
                       },
                       [&] {
                         EXPECT_TRUE(rw.is_locked_shared());
                         rw.release_shared();
                       },
                       [&] { c.signal(); },
                       [&] {
                         if (!rw.try_acquire()) return false;
                         rw.release();
                         return true;
                       },
                       [&] { return !rw.is_locked_shared(); }});
  });
}

TEST(RwlockCancelTest, StressKeepsExclusionAndWaitReturnsHolding) {
  cancelation_stress<Rwlock>();
}

// ---- Sem -----------------------------------------------------------------------------

TEST(SemTest, BasicsAndBounds) {
  EXPECT_THROW(Sem(-1), std::invalid_argument);
  EXPECT_THROW(Sem(Sem::kMax + 1), std::invalid_argument);
  picos::testing::run([] {
    Sem s(Sem::kMax);
    EXPECT_THROW(s.release(), std::overflow_error);
    EXPECT_EQ(s.value(), Sem::kMax);
    s.acquire();
    EXPECT_EQ(s.value(), Sem::kMax - 1);
    s.release();
    EXPECT_EQ(s.value(), Sem::kMax);
  });
}

TEST(SemTest, TryAcquireSequence) {
  picos::testing::run([] {
    Sem s(2);
    EXPECT_TRUE(s.try_acquire());
    EXPECT_TRUE(s.try_acquire());
    EXPECT_FALSE(s.try_acquire());
    s.release();
    EXPECT_TRUE(s.try_acquire());
    s.poison();
    try {
      (void)s.try_acquire();
      ADD_FAILURE();
    } catch (const Poisoned& e) {
      EXPECT_STREQ(e.what(), "picos::sync::Sem::try_acquire: poisoned");
    }
  });
}

TEST(SemTest, PoisoningWakesEveryWaiter) {
  picos::testing::run([] {
    for (int n = 1; n <= 4; ++n) {
      Sem s(0);
      std::atomic<int> poisoned{0};
      std::vector<Computation<void>> done;
      for (int i = 0; i < n; ++i) {
        done.push_back(fork([&] {
          try {
            s.acquire();
          } catch (const Poisoned&) {
            ++poisoned;
          }
        }));
      }
      wait_parked(static_cast<std::size_t>(n));
      s.poison();
      await_all(done);
      EXPECT_EQ(poisoned.load(), n);
      EXPECT_EQ(s.value(), 0);
      s.release();  // silent no-op
      EXPECT_TRUE(s.is_poisoned());
      EXPECT_EQ(s.value(), 0);
      EXPECT_THROW(s.acquire(), Poisoned);
      EXPECT_EQ(parked_for_testing(), 0u);
    }
  });
}

TEST(SemTest, AcquirersAndReleasersInRandomOrderAllComplete) {
  picos::testing::run([] {
    Sem s(0);
    const int n = threads_are_fibers() ? 200 : (picos::testing::kSanitizer ? 2000 : 100000);
    std::mt19937 rng(3);
    std::vector<char> kinds(static_cast<std::size_t>(2 * n), 0);
    std::fill(kinds.begin(), kinds.begin() + n, 1);
    std::shuffle(kinds.begin(), kinds.end(), rng);
    std::atomic<int> acquired{0}, left{2 * n};
    Computation<void> all_done;
    for (char kind : kinds) {
      Fiber::spawn(Fiber::create(PackedComputation()), [&, kind, all_done] {
        if (kind == 1) {
          s.acquire();
          ++acquired;
        } else {
          s.release();
        }
        if (--left == 0) all_done.finish();
      });
    }
    all_done.await();  // a lost wake-up would hang here
    EXPECT_EQ(acquired.load(), n);
    EXPECT_EQ(s.value(), 0);
    EXPECT_EQ(parked_for_testing(), 0u);
  });
}

TEST(SemCancelTest, Acquire) {
  picos::testing::run([] {
    Sem s(0);
    inject_everywhere({[] {},
                       [&] { s.acquire(); },
                       [&] { s.release(); },
                       [] {},
                       [&] { s.release(); },
                       [&] {
                         if (!s.try_acquire()) return false;
                         return s.value() == 0;  // exactly the one permit given
                       }});
  });
}

}  // namespace
}  // namespace picos::sync
