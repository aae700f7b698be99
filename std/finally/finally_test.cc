// Copyright 2026 The Picos for C++ Authors.
//
// picos::finally on every scheduler of the conformance matrix: release exactly once on
// normal exit, on exception and in a canceled fiber (with cancelation masked); lastly; moving
// a resource into a fiber, including when the spawn fails; live resources counted.

#include "std/finally/finally.h"

#include <atomic>
#include <exception>
#include <memory>
#include <random>
#include <stdexcept>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/sync/sync_testing.h"

namespace picos::finally {
namespace {

namespace st = picos::sync::testing;

// Counts live resources and releases; a release that suspends (a cancelation point that
// would throw in a canceled fiber unless cancelation is forbidden).
struct Tally {
  std::atomic<int> live{0};
  std::atomic<int> acquired{0};
  std::atomic<int> released{0};
  std::atomic<int> released_unforbidden{0};

  Owned<int> make(int id = 0) { return make_with(id, /*suspends=*/true); }
  // The same with a release that does not suspend, for resources released while an exception
  // unwinds (safe on our schedulers, which keep the runtime's exception state per fiber, but
  // not on one that does not: docs/hazards.md).
  Owned<int> make_quiet(int id = 0) { return make_with(id, /*suspends=*/false); }

  Owned<int> make_with(int id, bool suspends) {
    return instantiate(
        [this, id] {
          ++live;
          ++acquired;
          return id;
        },
        [this, suspends](int&) {
          if (!Fiber::current().has_forbidden()) ++released_unforbidden;
          if (suspends) Fiber::yield();  // throws in a canceled fiber unless forbidden
          ++released;  // before `live` drops: a test that sees live == 0 sees it counted
          --live;
        });
  }
};

TEST(FinallyTest, ReleasesOnceOnNormalExitAndException) {
  picos::testing::run([] {
    Tally t;
    {
      auto r = t.make(1);
      EXPECT_TRUE(r.owns());
      EXPECT_EQ(*r, 1);
      EXPECT_EQ(t.live, 1);
    }
    EXPECT_EQ(t.released, 1);
    try {
      auto r = t.make_quiet(2);  // released while unwinding: must not suspend
      throw st::Stop();
    } catch (const st::Stop&) {
    }
    EXPECT_EQ(t.released, 2);
    auto r = t.make(3);
    r.drop();
    r.drop();  // idempotent
    EXPECT_FALSE(r.owns());
    EXPECT_EQ(t.released, 3);
    auto a = t.make(4), b = t.make(5);
    a = std::move(b);  // releases 4, takes 5
    EXPECT_EQ(t.released, 4);
    EXPECT_EQ(*a, 5);
    a = Owned<int>();
    EXPECT_EQ(t.live, 0);
    EXPECT_EQ(t.acquired, t.released);
    EXPECT_EQ(t.released_unforbidden, 0);
  });
}

// A release function whose copy throws (and whose move is that copy): the handle cannot be
// made. Counts its calls, and whether they ran forbidden.
struct CopyRefusingRelease {
  std::atomic<int>* calls;
  std::atomic<int>* unforbidden;
  CopyRefusingRelease(std::atomic<int>* c, std::atomic<int>* u) : calls(c), unforbidden(u) {}
  CopyRefusingRelease(const CopyRefusingRelease&) { throw st::Stop(); }
  void operator()(int&) const {
    if (!Fiber::current().has_forbidden()) ++*unforbidden;
    ++*calls;
  }
};

// If the handle cannot be made, the resource is released at once and the exception
// propagates (before: nobody owned it, and it leaked).
TEST(FinallyTest, AHandleThatCannotBeMadeReleasesTheResource) {
  picos::testing::run([] {
    std::atomic<int> calls{0}, unforbidden{0};
    EXPECT_THROW(Owned<int>(7, CopyRefusingRelease(&calls, &unforbidden)), st::Stop);
    EXPECT_EQ(calls, 1);
    EXPECT_THROW(instantiate([] { return 8; }, CopyRefusingRelease(&calls, &unforbidden)),
                 st::Stop);
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(unforbidden, 0);
  });
}

TEST(FinallyTest, ReleasesOnceInACanceledFiberWithCancelationForbidden) {
  picos::testing::run([] {
    Tally t;
    bool canceled_after = false;
    auto v = st::spawn_victim([&] {
      auto r = t.make();
      Fiber::current().get_computation().cancel(st::stop());
      std::exception_ptr stop;
      try {
        Fiber::yield();  // throws Stop
      } catch (const st::Stop&) {
        stop = std::current_exception();
      }
      // Dropped outside the handler: the release suspends, which a scheduler that does not
      // keep the runtime's exception state per fiber would not survive (docs/hazards.md).
      r.drop();
      canceled_after = Fiber::current().is_canceled();  // forbid was restored
      if (stop) std::rethrow_exception(stop);
    });
    v.done.await();
    EXPECT_TRUE(canceled_after);
    EXPECT_EQ(t.released, 1);
    EXPECT_EQ(t.live, 0);
    // Destroyed by unwinding in a canceled fiber (with a release that does not suspend).
    auto w = st::spawn_victim([&] {
      auto r = t.make_quiet();
      Fiber::current().get_computation().cancel(st::stop());
      Fiber::yield();
    });
    w.done.await();
    EXPECT_EQ(t.released, 2);
    EXPECT_EQ(t.released_unforbidden, 0);
  });
}

TEST(FinallyTest, LastlyAndFinally) {
  picos::testing::run([] {
    int actions = 0;
    bool forbidden_in_action = false;
    auto action = [&] {
      forbidden_in_action = Fiber::current().has_forbidden();
      ++actions;
    };
    EXPECT_EQ(lastly([] { return 7; }, action), 7);
    EXPECT_TRUE(forbidden_in_action);
    EXPECT_FALSE(Fiber::current().has_forbidden());
    EXPECT_THROW(lastly([]() -> int { throw st::Stop(); }, action), st::Stop);
    EXPECT_EQ(actions, 2);
    // An action's exception propagates after a normal scope, and is dropped after a throw.
    EXPECT_THROW(lastly([] {}, [] { throw std::logic_error("action"); }), std::logic_error);
    EXPECT_THROW(lastly([] { throw st::Stop(); }, [] { throw std::logic_error("action"); }),
                 st::Stop);
    // In a canceled fiber the action still completes (its yield does not throw).
    auto v = st::spawn_victim([&] {
      Fiber::current().get_computation().cancel(st::stop());
      lastly([] { Fiber::yield(); },
             [&] {
               Fiber::yield();
               ++actions;
             });
    });
    v.done.await();
    EXPECT_EQ(actions, 3);
    Tally t;
    int seen = finally([&] { return t.make(9).release_ownership(); },
                       [&](int&) {
                         --t.live;
                         ++t.released;
                       },
                       [](int& x) { return x + 1; });
    EXPECT_EQ(seen, 10);
    EXPECT_EQ(t.live, 0);
  });
}

TEST(FinallyTest, SpawnWithMovesOwnershipIntoTheFiber) {
  picos::testing::run([] {
    Tally t;
    auto r = t.make(5);
    Computation<int> got;
    spawn_with(Fiber::create(got), r, [got](int& x) { got.return_value(x); });
    EXPECT_FALSE(r.owns());
    EXPECT_THROW(r.borrow(), NotOwned);
    EXPECT_EQ(got.await(), 5);
    while (t.released.load() < 1) Fiber::yield();
    EXPECT_EQ(t.live, 0);
    r.drop();  // no-op: not owned
    EXPECT_EQ(t.released, 1);
    // A fiber canceled before it starts still runs main and releases.
    auto s = t.make(6);
    Computation<void> c;
    c.cancel(st::stop());
    std::atomic<bool> ran{false};
    spawn_with(Fiber::create(c), s, [&](int&) { ran = true; });
    while (t.released.load() < 2) Fiber::yield();
    EXPECT_TRUE(ran);
    EXPECT_EQ(t.live, 0);
    EXPECT_EQ(t.released_unforbidden, 0);
  });
}

TEST(FinallyTest, FailedSpawnLeavesOwnershipWithTheCaller) {
  picos::testing::run([] {
    Tally t;
    bool threw = false, still_owned = false, ran = false;
    auto v = st::spawn_victim([&] {
      auto r = t.make_quiet(1);  // released while unwinding: must not suspend
      Fiber::current().get_computation().cancel(st::stop());
      try {
        spawn_with(Fiber::create(Computation<void>()), r, [&](int&) { ran = true; });
      } catch (const st::Stop&) {
        threw = true;
        still_owned = r.owns();
        throw;  // `r` releases it while unwinding
      }
    });
    v.done.await();
    EXPECT_TRUE(threw);
    EXPECT_TRUE(still_owned);
    EXPECT_FALSE(ran);
    EXPECT_EQ(t.live, 0);
    EXPECT_EQ(t.released, 1);
    // Moving a resource that is not owned.
    Owned<int> empty;
    EXPECT_THROW(spawn_with(Fiber::create(Computation<void>()), empty, [](int&) {}), NotOwned);
    auto d = t.make();
    d.drop();
    EXPECT_THROW(spawn_with(Fiber::create(Computation<void>()), d, [](int&) {}), NotOwned);
    EXPECT_THROW(d.borrow(), NotOwned);
    // Borrowing keeps ownership (test_finally: "borrow returns resource").
    auto b = t.make(3);
    EXPECT_EQ(b.borrow(), 3);
    Computation<void> c;
    spawn_with(Fiber::create(c), b, [](int&) {});
    while (t.released.load() < 3) Fiber::yield();
    EXPECT_EQ(t.live, 0);
  });
}

// Many fibers pass resources down chains of forks while some are canceled at random: every
// resource acquired is released exactly once, none is left live, none is released twice.
TEST(FinallyTest, NoLeaksUnderRandomCancelation) {
  picos::testing::run([] {
    Tally t;
    const int n = st::fibers(50);
    std::vector<sync::testing::Victim> victims;
    for (int i = 0; i < n; ++i) {
      victims.push_back(st::spawn_victim([&t, i] {
        std::mt19937 rng(i);
        std::vector<Owned<int>> held;
        for (int k = 0; k < 6; ++k) {
          held.push_back(t.make_quiet(k));  // canceled fibers release them while unwinding
          Fiber::yield();
          if (rng() % 2) {
            Computation<void> child;
            if (rng() % 3 == 0) child.cancel(st::stop());
            spawn_with(Fiber::create(child), held.back(), [](int&) {
              try {
                Fiber::yield();
              } catch (const st::Stop&) {  // the child was canceled
              }
            });
          }
        }
      }));
    }
    for (int i = 0; i < n; i += 3) victims[i].c.cancel(st::stop());
    for (auto& v : victims) v.done.await();
    for (int spins = 0; t.live.load() > 0 && spins < 1000000; ++spins) Fiber::yield();
    EXPECT_EQ(t.live, 0);
    EXPECT_EQ(t.acquired, t.released);
    EXPECT_EQ(t.released_unforbidden, 0);
  });
}

}  // namespace
}  // namespace picos::finally
