// Copyright 2026 The Picos for C++ Authors.
//
// Rwlock and Rwlock::Condition on every scheduler of the conformance matrix: readers,
// freezing, the shared side of waits and cancelation. What its write side shares with Mutex,
// Lock and Sem is in exclusion_test.cc.

#include "std/sync/rwlock.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/sync/errors.h"
#include "std/sync/lock.h"
#include "std/sync/lock_testing.h"
#include "std/sync/sync_testing.h"

namespace picos::sync {
namespace {

// The state word plus the writers' gate (a Lock): two words, no allocation.
TEST(RwlockTest, IsTwoWords) { EXPECT_EQ(sizeof(Rwlock), 16u); }

TEST(RwlockTest, ReadersShareWritersExclude) {
  picos::testing::run([] {
    Rwlock rw;
    std::atomic<int> readers{0}, writers{0}, max_readers{0};
    long value = 0;
    const int n = testing::fibers(60), k = 40;
    std::vector<Computation<void>> done;
    for (int i = 0; i < n; ++i) {
      done.push_back(testing::fork([&, i] {
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
    testing::await_all(done);
    for (auto& d : done) d.await();
    long writes = 0;
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < k; ++j) writes += (i + j) % 3 == 0;
    }
    EXPECT_EQ(value, writes);
    // Readers hold it across a yield: on a fiber scheduler the next fiber runs then, and some
    // readers overlapped (or it excludes them too). Not where fibers are OS threads: under
    // TSan the thread scheduler once ran every reader alone (CI rehearsal).
    if (!testing::threads_are_fibers()) {
      EXPECT_GT(max_readers.load(), 1);
    }
    EXPECT_FALSE(rw.is_locked() || rw.is_locked_shared());
    EXPECT_EQ(testing::parked_for_testing(), 0u);
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

// Poisoning wakes waiting writers and readers: ParkingLockTest.PoisoningWakesEveryWaiter
// (exclusion_test.cc).

TEST(RwlockTest, WaitSharedWaiterSeesPoisoned) {
  picos::testing::run([] {
    Rwlock rw;
    Rwlock::Condition c;
    EXPECT_EQ(testing::poisoned_condition_waiters(
                  rw, c, [&] { rw.sharing([&] { c.wait_shared(rw); }); },  // a reader
                  [&] { rw.holding([&] { c.wait(rw); }); }),               // a writer
              2);
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
      done.push_back(testing::fork([&] {
        try {
          rw.acquire();
        } catch (const Frozen& e) {
          EXPECT_STREQ(e.what(), "picos::sync::Rwlock::acquire: frozen");
          ++frozen;
        }
      }));
    }
    testing::wait_parked(n);
    rw.freeze();
    testing::await_all(done);
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
    EXPECT_EQ(testing::parked_for_testing(), 0u);
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
    EXPECT_THROW(rw.sharing([] { throw testing::Stop(); }), testing::Stop);
    EXPECT_FALSE(rw.is_locked_shared());
    EXPECT_THROW(rw.protect([] { throw testing::Stop(); }), testing::Stop);
    EXPECT_FALSE(rw.is_locked() || rw.is_poisoned());
    EXPECT_EQ(rw.holding([] { return 3; }), 3);
    EXPECT_THROW(rw.holding([] { throw testing::Stop(); }), testing::Stop);
    EXPECT_TRUE(rw.is_poisoned());
  });
}

// Waits and shared waits woken by a signal, then a broadcast:
// ConditionVariableTest.SignalThenBroadcastWakesEveryWaiter; misuse of either side:
// ConditionLockTest.MisuseIsReported (exclusion_test.cc).

// Whether nobody holds `rw`: an exclusive hold can be taken (it is released again).
bool is_free(Rwlock& rw) {
  if (!rw.try_acquire()) return false;
  rw.release();
  return true;
}

// Cancelation injected into one side's acquire while the other side holds `rw`: into
// acquire_shared while a writer holds it (`shared`), or into acquire while a reader does.
void inject_into_acquire(bool shared) {
  Rwlock rw;
  auto acquire = [&rw](bool as_reader) { as_reader ? rw.acquire_shared() : rw.acquire(); };
  auto release = [&rw](bool as_reader) { as_reader ? rw.release_shared() : rw.release(); };
  testing::inject_everywhere({[&] { acquire(!shared); }, [&] { acquire(shared); },
                              [&] { release(shared); }, [] {}, [&] { release(!shared); },
                              [&] { return is_free(rw); }});
}

// Blocked by a writer: ParkingLockTest.CancelationInjectedIntoLock (exclusion_test.cc).
TEST(RwlockCancelTest, AcquireBlockedByReaders) {
  picos::testing::run([] { inject_into_acquire(/*shared=*/false); });
}

TEST(RwlockCancelTest, AcquireShared) {
  picos::testing::run([] { inject_into_acquire(/*shared=*/true); });
}

TEST(RwlockCancelTest, WaitShared) {
  picos::testing::run([] {
    Rwlock rw;
    Rwlock::Condition c;
    testing::inject_everywhere({[] {},
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
                                [&] { c.signal(); }, [&] { return is_free(rw); },
                                [&] { return !rw.is_locked_shared(); }});
  });
}

// ---- destruction right after a hand-off ------------------------------------------------

// A Rwlock may be destroyed as soon as nobody waits on it, even while its last releaser is
// still returning from release (sync.md). ASan reports a releaser that touches it after.
TEST(RwlockTest, TheReadersAWriterReleasedToMayDestroyIt) {
  testing::destroy_after_handoffs([] {
    constexpr int kReaders = 3;
    auto* l = new Rwlock();
    l->acquire();
    auto left = std::make_shared<std::atomic<int>>(kReaders);
    std::vector<testing::Victim> readers;
    for (int i = 0; i < kReaders; ++i) {
      readers.push_back(testing::start_blocking([l, left] {
        l->acquire_shared();
        l->release_shared();
        if (left->fetch_sub(1) == 1) delete l;
      }));
    }
    for (int i = 0; i < 3; ++i) Fiber::yield();
    l->release();
    for (testing::Victim& r : readers) r.done.await();
  });
}

TEST(RwlockTest, TheWriterTheLastReaderReleasedToMayDestroyIt) {
  testing::destroy_after_handoffs([] {
    auto* l = new Rwlock();
    l->acquire_shared();
    testing::Victim writer = testing::start_blocking([l] {
      l->acquire();
      l->release();
      delete l;
    });
    for (int i = 0; i < 3; ++i) Fiber::yield();
    l->release_shared();
    writer.done.await();
  });
}

}  // namespace
}  // namespace picos::sync
