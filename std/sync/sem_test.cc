// Copyright 2026 The Picos for C++ Authors.
//
// The counting semaphores, Sem and Semaphore, on every scheduler of the conformance matrix.
// Sem used as a binary semaphore (a lock) is tested with Mutex, Lock and Rwlock in
// exclusion_test.cc; Semaphore's bounds and cancelation races are in sync_test.cc.

#include "std/sync/sem.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/sync/errors.h"
#include "std/sync/lock_testing.h"
#include "std/sync/semaphore.h"
#include "std/sync/sync_testing.h"

namespace picos::sync {
namespace {

TEST(SemTest, BasicsAndBounds) {
  EXPECT_EQ(sizeof(Sem), 8u);  // permits, poison and waiters in one word
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

// ---- Sem and Semaphore -------------------------------------------------------------------

template <typename T>
class CountingSemaphoreTest : public ::testing::Test {};
using CountingSemaphores = ::testing::Types<Sem, Semaphore>;
TYPED_TEST_SUITE(CountingSemaphoreTest, CountingSemaphores);

TYPED_TEST(CountingSemaphoreTest, AcquirersAndReleasersInRandomOrderAllComplete) {
  picos::testing::run([] {
    TypeParam s(0);
    const int n =
        testing::threads_are_fibers() ? 200 : (picos::testing::kSanitizer ? 2000 : 100000);
    std::mt19937 rng(3);
    std::vector<char> kinds(static_cast<std::size_t>(2 * n), 0);
    std::fill(kinds.begin(), kinds.begin() + n, 1);  // acquirers first...
    std::shuffle(kinds.begin(), kinds.end(), rng);   // ...then shuffled
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
    if constexpr (std::is_same_v<TypeParam, Sem>) {
      EXPECT_EQ(testing::parked_for_testing(), 0u);
    }
  });
}

// An acquire of an empty Sem(0) (no holder) canceled at each point: a release given to a
// canceled waiter is passed on, and exactly the one permit given remains.
TEST(SemCancelTest, Acquire) {
  picos::testing::run([] {
    Sem s(0);
    testing::inject_everywhere({[] {}, [&] { s.acquire(); }, [&] { s.release(); }, [] {},
                                [&] { s.release(); },
                                [&] {
                                  if (!s.try_acquire()) return false;
                                  return s.value() == 0;  // exactly the one permit given
                                }});
  });
}

// ---- destruction right after a hand-off ------------------------------------------------

// A Sem may be destroyed as soon as nobody waits on it, even while the releaser is still
// returning from release (sync.md). ASan reports a releaser that touches it after.
TEST(SemTest, TheFiberASemReleasedToMayDestroyIt) {
  testing::destroy_after_handoffs([] {
    auto* s = new Sem(0);
    testing::Victim taker = testing::start_blocking([s] {
      s->acquire();
      delete s;
    });
    for (int i = 0; i < 3; ++i) Fiber::yield();
    s->release();
    taker.done.await();
  });
}

}  // namespace
}  // namespace picos::sync
