// Copyright 2026 The Picos for C++ Authors.
//
// The core contract (test_picos of the OCaml suite, plus C++ specifics), run on every
// scheduler configuration of the conformance matrix.

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <ratio>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/internal/asymmetric_fence.h"
#include "picos/picos.h"

namespace picos {
namespace {

using namespace std::chrono_literals;

struct Exit : std::runtime_error {
  Exit() : std::runtime_error("Exit") {}
};
struct NotFound : std::runtime_error {
  NotFound() : std::runtime_error("NotFound") {}
};

template <typename E>
std::exception_ptr reason() {
  return std::make_exception_ptr(E());
}

template <typename E>
bool holds(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

// The message of the std::invalid_argument that `fn()` throws ("(nothing thrown)" if none).
template <typename F>
std::string invalid_argument_of(F fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

// Spawns `fn` in a new fiber with its own computation; returns a computation completed when
// the fiber's main has returned (with fn's outcome).
template <typename F>
Computation<void> fork(F fn) {
  Computation<void> done;
  Fiber::spawn(Fiber::create(done), [done, fn = std::move(fn)]() mutable { done.capture(fn); });
  return done;
}

// Spawns `fn` in a new fiber on computation `c` (fn's outcome completes `c`; cancel `c` to
// cancel the fiber); returns a computation completed when the fiber's main has returned,
// however fn ended (`c` completes early when canceled).
template <typename F>
Computation<void> spawn_on(const Computation<void>& c, F fn) {
  Computation<void> done;
  Fiber::spawn(Fiber::create(c), [c, done, fn = std::move(fn)]() mutable {
    c.capture(fn);
    done.finish();
  });
  return done;
}

// Runs `fn` with the current fiber on a fresh computation (restored afterwards), so a test can
// cancel "its fiber" without canceling the computation of the run's main.
template <typename F>
void with_own_computation(F fn) {
  Fiber& f = Fiber::current();
  PackedComputation saved = f.get_computation();
  f.set_computation(PackedComputation());
  struct Restore {
    Fiber& f;
    PackedComputation saved;
    ~Restore() { f.set_computation(saved); }
  } restore{f, saved};
  fn();
}

// ---- Trigger ---------------------------------------------------------------------------

TEST(TriggerTest, SignalFromAnotherThreadResumesAwait) {
  testing::run([] {
    Trigger t;
    std::thread signaler([t] {
      std::this_thread::sleep_for(1ms);
      t.signal();
    });
    EXPECT_EQ(t.await(), nullptr);
    EXPECT_TRUE(t.is_signaled());
    signaler.join();
  });
}

TEST(TriggerTest, SignaledBeforeAwaitReturnsAtOnce) {
  testing::run([] {
    Trigger t;
    EXPECT_TRUE(t.is_initial());
    t.signal();
    EXPECT_FALSE(t.is_initial());
    EXPECT_EQ(t.await(), nullptr);
    EXPECT_EQ(Trigger::signaled().await(), nullptr);
  });
}

TEST(TriggerTest, SignaledTriggerDoesNotCheckCancelation) {
  testing::run([] {
    with_own_computation([] {
      Fiber::current().get_computation().cancel(reason<Exit>());
      EXPECT_EQ(Trigger::signaled().await(), nullptr);
      Trigger t;
      EXPECT_TRUE(holds<Exit>(t.await()));  // not signaled: the cancelation shows
    });
  });
}

TEST(TriggerTest, MisuseIsRejected) {
  testing::run([] {
    Trigger t;
    int calls = 0;
    auto count = [](const Trigger&, void* x, void*) noexcept { ++*static_cast<int*>(x); };
    ASSERT_TRUE(t.on_signal(&calls, nullptr, count));
    EXPECT_THROW((void)t.is_initial(), std::invalid_argument);
    EXPECT_THROW((void)t.await(), std::invalid_argument);  // awaited twice
    EXPECT_THROW((void)t.on_signal(&calls, nullptr, count), std::invalid_argument);
    EXPECT_THROW(t.dispose(), std::invalid_argument);
    t.signal();
    t.signal();
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(t.on_signal(&calls, nullptr, count));  // already signaled
    t.dispose();                                        // no-op once signaled
  });
}

TEST(TriggerTest, FromActionRunsActionThenReleaseExactlyOnce) {
  int action = 0, release = 0;
  {
    Trigger t = Trigger::from_action(
        &action, &release, [](const Trigger&, void* a, void*) noexcept { ++*static_cast<int*>(a); },
        [](void*, void* r) noexcept { ++*static_cast<int*>(r); });
    EXPECT_THROW((void)t.await(), std::invalid_argument);
    Trigger copy = t;  // NOLINT(performance-unnecessary-copy-initialization): a second handle
    copy.signal();
    t.signal();
  }
  EXPECT_EQ(action, 1);
  EXPECT_EQ(release, 1);
  // Never signaled: the last handle releases.
  {
    Trigger t = Trigger::from_action(
        &action, &release, [](const Trigger&, void* a, void*) noexcept { ++*static_cast<int*>(a); },
        [](void*, void* r) noexcept { ++*static_cast<int*>(r); });
  }
  EXPECT_EQ(action, 1);
  EXPECT_EQ(release, 2);
}

TEST(TriggerTest, FromActionRejectsANullAction) {
  int release = 0;
  EXPECT_EQ(invalid_argument_of([&] {
              (void)Trigger::from_action(&release, nullptr, nullptr,
                                         [](void* r, void*) noexcept { ++*static_cast<int*>(r); });
            }),
            "picos::Trigger::from_action: null action");
  EXPECT_EQ(release, 0);  // nothing created: x and y stay the caller's
  EXPECT_EQ(invalid_argument_of([] { (void)Trigger::from_action(nullptr, nullptr, nullptr); }),
            "picos::Trigger::from_action: null action");
}

TEST(TriggerTest, MisuseOfAFromActionTriggerSaysSo) {
  testing::run([] {
    for (bool with_release : {false, true}) {
      int action = 0;
      Trigger t = Trigger::from_action(
          &action, nullptr,
          [](const Trigger&, void* a, void*) noexcept { ++*static_cast<int*>(a); },
          with_release ? [](void*, void*) noexcept {} : Trigger::Release(nullptr));
      EXPECT_EQ(invalid_argument_of([&] { (void)t.await(); }),
                "picos::Trigger::await: a from_action trigger cannot be awaited");
      EXPECT_EQ(invalid_argument_of([&] { (void)t.on_signal(nullptr, nullptr, nullptr); }),
                "picos::Trigger::on_signal: a from_action trigger cannot be awaited");
      EXPECT_EQ(invalid_argument_of([&] { t.dispose(); }),
                "picos::Trigger::dispose: a from_action trigger cannot be disposed");
      t.signal();
      EXPECT_EQ(action, 1);
    }
    // An awaited trigger still reports what it always did.
    Trigger t;
    auto nop = [](const Trigger&, void*, void*) noexcept {};
    ASSERT_TRUE(t.on_signal(nullptr, nullptr, nop));
    EXPECT_EQ(invalid_argument_of([&] { (void)t.await(); }), "picos::Trigger: already awaiting");
    EXPECT_EQ(invalid_argument_of([&] { t.dispose(); }), "picos::Trigger: already awaiting");
    t.signal();
  });
}

TEST(TriggerTest, ConcurrentSignalersRunTheActionOnce) {
  for (int round = 0; round < 200; ++round) {
    std::atomic<int> calls{0};
    Trigger t;
    ASSERT_TRUE(t.on_signal(&calls, nullptr, [](const Trigger&, void* x, void*) noexcept {
      static_cast<std::atomic<int>*>(x)->fetch_add(1);
    }));
    std::thread a([t] { t.signal(); });
    std::thread b([t] { t.signal(); });
    t.signal();
    a.join();
    b.join();
    ASSERT_EQ(calls.load(), 1);
  }
}

// signal_deferred: the signal now, the action (the awaiter's resume) when the Wake runs.
TEST(TriggerTest, SignalDeferredRunsTheActionOnlyWhenTheWakeRuns) {
  int action = 0, release = 0;
  auto act = [](const Trigger&, void* a, void*) noexcept { ++*static_cast<int*>(a); };
  auto rel = [](void*, void* r) noexcept { ++*static_cast<int*>(r); };
  Trigger t = Trigger::from_action(&action, &release, act, rel);
  {
    Trigger::Wake w = t.signal_deferred();
    EXPECT_TRUE(t.is_signaled());
    EXPECT_TRUE(static_cast<bool>(w));
    t.signal();  // a later signal finds it signaled: nothing runs
    EXPECT_EQ(action, 0);
    EXPECT_FALSE(static_cast<bool>(t.signal_deferred()));
    Trigger::Wake moved = std::move(w);
    EXPECT_FALSE(static_cast<bool>(w));  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_EQ(action, 0);
    moved.run();
    EXPECT_EQ(action, 1);
    EXPECT_EQ(release, 1);
    moved.run();  // once
    EXPECT_FALSE(static_cast<bool>(moved));
  }
  EXPECT_EQ(action, 1);
  EXPECT_EQ(release, 1);
  // A Wake dropped without run() runs on destruction; one assigned over runs first.
  Trigger u = Trigger::from_action(&action, &release, act, rel);
  Trigger v = Trigger::from_action(&action, &release, act, rel);
  {
    Trigger::Wake w = u.signal_deferred();
    w = v.signal_deferred();
    EXPECT_EQ(action, 2);
  }
  EXPECT_EQ(action, 3);
  EXPECT_EQ(release, 3);
  // Not awaited yet: nothing changes until the Wake runs the whole signal; then its await
  // returns at once.
  testing::run([] {
    Trigger fresh;
    Trigger::Wake w = fresh.signal_deferred();
    EXPECT_TRUE(static_cast<bool>(w));
    EXPECT_TRUE(fresh.is_initial());
    w.run();
    EXPECT_FALSE(static_cast<bool>(w));
    EXPECT_TRUE(fresh.is_signaled());
    EXPECT_EQ(fresh.await(), nullptr);
  });
}

// A fiber suspended on a trigger signaled with signal_deferred stays suspended until the Wake
// runs, its cancelation meanwhile included (which then shows in await's result).
TEST(TriggerTest, SignalDeferredKeepsTheAwaiterSuspendedUntilTheWakeRuns) {
  for (const bool cancel : {false, true}) {
    testing::run([cancel] {
      Trigger t;
      std::atomic<bool> waiting{false}, resumed{false};
      Computation<void> c;
      Computation<void> done = spawn_on(c, [&] {
        waiting.store(true);
        std::exception_ptr r = t.await();
        resumed.store(true);
        EXPECT_EQ(r != nullptr, cancel);
      });
      // The waiter is suspended once the trigger has an action attached (is_initial throws).
      while (!waiting.load() || [&] {
        try {
          return t.is_initial();
        } catch (const std::invalid_argument&) {
          return false;
        }
      }()) {
        Fiber::yield();
      }
      Trigger::Wake w = t.signal_deferred();
      ASSERT_TRUE(static_cast<bool>(w));
      if (cancel) c.cancel(reason<Exit>());
      for (int i = 0; i < 20; ++i) {
        Fiber::yield();
        std::this_thread::sleep_for(100us);
      }
      EXPECT_FALSE(resumed.load());
      w.run();
      (void)done.wait();
      EXPECT_TRUE(resumed.load());
    });
  }
}

// ---- Computation -----------------------------------------------------------------------

TEST(ComputationTest, ReturnOnceAndPeek) {
  Computation<int> c;
  EXPECT_TRUE(c.is_running());
  EXPECT_EQ(c.peek(), std::nullopt);
  EXPECT_TRUE(c.try_return(101));
  EXPECT_FALSE(c.try_return(42));
  EXPECT_FALSE(c.try_cancel(reason<Exit>()));
  EXPECT_TRUE(c.is_returned());
  EXPECT_EQ(c.peek(), 101);
  EXPECT_EQ(c.await(), 101);  // completed: no scheduler needed
  EXPECT_EQ(c.canceled(), nullptr);
  EXPECT_EQ(Computation<std::string>::returned("x").await(), "x");
}

TEST(ComputationTest, CancelRethrowsTheReason) {
  Computation<int> c;
  EXPECT_THROW(c.try_cancel(nullptr), std::invalid_argument);
  EXPECT_TRUE(c.try_cancel(reason<Exit>()));
  EXPECT_TRUE(c.is_canceled());
  EXPECT_THROW(c.check(), Exit);
  EXPECT_THROW(c.peek(), Exit);
  EXPECT_THROW(c.await(), Exit);
  EXPECT_TRUE(holds<Exit>(c.canceled()));
}

TEST(ComputationTest, CancelThenWaitReturnsImmediately) {
  testing::run([] {
    Computation<void> c;
    c.cancel(reason<Exit>());
    c.wait();  // does not rethrow the computation's own cancelation
    EXPECT_THROW(c.await(), Exit);
  });
}

TEST(ComputationTest, MoveOnlyValuesCanBeAwaitedAndTaken) {
  Computation<std::unique_ptr<int>> c;
  c.try_return(std::make_unique<int>(3));
  EXPECT_EQ(*c.await(), 3);  // by reference to the shared state
  std::unique_ptr<int> taken = c.take();
  EXPECT_EQ(*taken, 3);
  EXPECT_EQ(c.await(), nullptr);  // moved from
  Tx tx;
  Computation<std::unique_ptr<int>> d;
  ASSERT_TRUE(tx.try_return(d, std::make_unique<int>(4)));
  ASSERT_TRUE(tx.try_commit());
  EXPECT_EQ(*d.await(), 4);
}

// A Computation<T>'s state comes from a per-thread list of blocks of its size when it is
// small, so that a computation per fiber (skynet's, a promise's) costs no malloc and no free:
// a burst takes slabs, and the next burst reuses their blocks. Over-aligned and large values
// go to malloc, aligned (an over-aligned T's state came from malloc's 16-byte alignment
// before), under ASan too.
TEST(ComputationTest, SmallValueStatesAreRecycledPerThread) {
#if PICOS_INTERNAL_THREAD_CACHE
  using Cache = internal::ThreadCache<internal::ValueState<long>>;
  std::thread([] {
    const std::size_t n = 3 * Cache::slab_blocks();
    const std::int64_t before = Cache::slabs_for_testing();
    for (int burst = 0; burst < 2; ++burst) {
      std::vector<Computation<long>> v(n);
      for (std::size_t i = 0; i < n; ++i) v[i].try_return(static_cast<long>(i));
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(v[i].await(), static_cast<long>(i));
      EXPECT_EQ(Cache::slabs_for_testing() - before, 3) << "burst " << burst;
    }
  }).join();
#endif
  // (32, not 64: GCC 12's ASan build misaligns a 64-aligned argument passed by value.)
  struct alignas(32) Wide {
    long x;
  };
  struct Big {
    unsigned char bytes[1000];
  };
  std::vector<Computation<Wide>> wide(100);
  std::vector<Computation<Big>> big(10);
  for (int i = 0; i < 100; ++i) wide[i].try_return(Wide{i});
  for (int i = 0; i < 10; ++i) big[i].try_return(Big{{static_cast<unsigned char>(i)}});
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(&wide[i].await()) % 32, 0u);
    EXPECT_EQ(wide[i].await().x, i);
  }
  for (int i = 0; i < 10; ++i) EXPECT_EQ(big[i].await().bytes[0], i);
  EXPECT_EQ(internal::ThreadCache<internal::ValueState<Wide>>::slabs_for_testing(), 0);
  EXPECT_EQ(internal::ThreadCache<internal::ValueState<Big>>::slabs_for_testing(), 0);
}

TEST(ComputationTest, CaptureStoresValueOrException) {
  Computation<int> a, b;
  a.capture([] { return 7; });
  b.capture([]() -> int { throw NotFound(); });
  EXPECT_EQ(a.await(), 7);
  EXPECT_THROW(b.await(), NotFound);
}

// Built from an int; the conversion throws for a negative one (as std::string's from a
// `const char*` may throw std::bad_alloc).
struct FromInt {
  FromInt(int v) : v(v) {  // NOLINT(google-explicit-constructor): converts, as the test needs
    if (v < 0) throw std::domain_error("FromInt: negative");
  }
  int v;
};

// A value whose move constructor may throw, and does when `throws` is set.
struct ThrowingMove {
  explicit ThrowingMove(bool throws) : throws(throws) {}
  // NOLINTNEXTLINE(bugprone-exception-escape): the throwing move is what the test needs
  ThrowingMove(ThrowingMove&& o) noexcept(false) : throws(o.throws) {
    if (throws) throw std::domain_error("ThrowingMove: move");
  }
  bool throws;
};

// A value that throws on its way into the computation leaves it running, nothing signaled, its
// lock free: the caller gets the exception (before the fix: std::terminate, from under the
// computation's lock in a noexcept function).
TEST(ComputationTest, AValueThatThrowsOnItsWayInChangesNothing) {
  Computation<FromInt> c;
  Trigger t;
  ASSERT_TRUE(c.try_attach(t));
  EXPECT_THROW(c.try_return(-1), std::domain_error);  // the conversion throws
  EXPECT_TRUE(c.is_running());
  EXPECT_FALSE(t.is_signaled());
  EXPECT_TRUE(c.try_return(2));
  EXPECT_TRUE(t.is_signaled());
  EXPECT_EQ(c.await().v, 2);

  Computation<FromInt> captured;  // try_capture cancels with what the conversion threw
  captured.capture([] { return -1; });
  EXPECT_THROW(captured.await(), std::domain_error);

  Computation<ThrowingMove> m;  // the move into the shared state throws
  Trigger u;
  ASSERT_TRUE(m.try_attach(u));
  EXPECT_THROW(m.try_return(ThrowingMove(true)), std::domain_error);
  EXPECT_TRUE(m.is_running());
  EXPECT_FALSE(u.is_signaled());
  EXPECT_TRUE(m.try_cancel(reason<Exit>()));  // the lock was released
  EXPECT_TRUE(u.is_signaled());
  EXPECT_FALSE(m.try_return(ThrowingMove(false)));

  Computation<ThrowingMove> n;
  EXPECT_TRUE(n.try_return(ThrowingMove(false)));
  EXPECT_FALSE(n.await().throws);
}

long fib_checked(const Computation<long>& c, int n) {
  c.check();
  return n < 2 ? n : fib_checked(c, n - 1) + fib_checked(c, n - 2);
}

TEST(ComputationTest, CancelFromAnotherThreadInterruptsCheckingWork) {
  testing::run([] {
    Computation<long> c;
    std::thread worker([c] { c.capture([&] { return fib_checked(c, 80); }); });  // years
    std::thread canceler([c] {
      std::this_thread::sleep_for(10ms);
      c.cancel(reason<Exit>());
    });
    EXPECT_THROW(c.await(), Exit);
    worker.join();
    canceler.join();
  });
}

// Random attach/detach mixes, then completion: the remaining triggers fire in attach order
// (FIFO) or reverse attach order (LIFO).
void signals_in_order(Mode mode) {
  std::mt19937 rng(1234);
  bool saw_two = false;
  for (int round = 0; round < 100; ++round) {
    PackedComputation c(mode);
    std::vector<int> fired;
    struct Slot {
      std::vector<int>* fired;
      int id;
    };
    std::vector<std::unique_ptr<Slot>> slots;
    std::vector<std::pair<int, Trigger>> attached;
    auto action = [](const Trigger&, void* x, void*) noexcept {
      auto* s = static_cast<Slot*>(x);
      s->fired->push_back(s->id);
    };
    int next_id = 0;
    for (int op = 0; op < 10 + static_cast<int>(rng() % 10); ++op) {
      if (attached.empty() || rng() % 3 != 0) {
        slots.push_back(std::make_unique<Slot>(Slot{&fired, next_id}));
        Trigger t = Trigger::from_action(slots.back().get(), nullptr, action);
        ASSERT_TRUE(c.try_attach(t));
        attached.emplace_back(next_id++, t);
      } else {
        std::size_t i = rng() % attached.size();
        c.detach(attached[i].second);  // detaching signals: it fires now, out of order
        attached.erase(attached.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    std::vector<int> expected;
    for (auto& [id, t] : attached) expected.push_back(id);
    if (mode == Mode::kLifo) std::reverse(expected.begin(), expected.end());
    std::size_t before = fired.size();
    c.try_cancel(reason<Exit>());
    std::vector<int> got(fired.begin() + static_cast<std::ptrdiff_t>(before), fired.end());
    ASSERT_EQ(got, expected) << "round " << round;
    saw_two = saw_two || expected.size() >= 2;
  }
  EXPECT_TRUE(saw_two);
}

TEST(ComputationTest, SignalsInFifoOrder) { signals_in_order(Mode::kFifo); }
TEST(ComputationTest, SignalsInLifoOrder) { signals_in_order(Mode::kLifo); }

TEST(ComputationTest, AttachFailsOnCompletedOrSignaled) {
  PackedComputation c;
  EXPECT_FALSE(c.try_attach(Trigger::signaled()));
  c.try_cancel(reason<Exit>());
  EXPECT_FALSE(c.try_attach(Trigger()));
}

TEST(ComputationTest, DetachedTriggersAreReclaimed) {
  PackedComputation c;
  Trigger keep;
  ASSERT_TRUE(c.try_attach(keep));
  for (int i = 0; i < 10000; ++i) {
    Trigger t;
    ASSERT_TRUE(c.try_attach(t));
    c.detach(t);
    ASSERT_TRUE(t.is_signaled());
    ASSERT_LE(c.bag_size_for_testing(), 8u) << "after " << i << " attach/detach pairs";
  }
  EXPECT_FALSE(keep.is_signaled());
  c.try_cancel(reason<Exit>());
  EXPECT_TRUE(keep.is_signaled());
  EXPECT_EQ(c.bag_size_for_testing(), 0u);
}

TEST(ComputationTest, ConcurrentAttachDetachKeepsBagBounded) {
  PackedComputation c;
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([c] {
      for (int i = 0; i < 20000; ++i) {
        Trigger t;
        if (c.try_attach(t)) c.detach(t);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(c.bag_size_for_testing(), 8u);
  EXPECT_TRUE(c.is_running());
}

TEST(ComputationTest, CancelerPropagatesCancelationOnly) {
  PackedComputation from, into;
  Trigger t = PackedComputation::attach_canceler(from, into);
  from.try_cancel(reason<NotFound>());
  EXPECT_TRUE(into.is_canceled());
  EXPECT_TRUE(holds<NotFound>(into.canceled()));
  EXPECT_EQ(into.canceled(), from.canceled());  // the same reason object

  Computation<void> returned, into2;
  Trigger t2 = PackedComputation::attach_canceler(returned, into2);
  returned.finish();
  EXPECT_TRUE(into2.is_running());
  EXPECT_THROW(PackedComputation::attach_canceler(returned, into2), std::invalid_argument);
  EXPECT_THROW(PackedComputation::attach_canceler(from, into2), NotFound);
}

TEST(ComputationTest, ConcurrentCompletersExactlyOneWins) {
  for (int round = 0; round < 300; ++round) {
    Computation<int> c;
    std::atomic<int> wins{0};
    Trigger t1, t2;
    std::thread a([&] { wins += c.try_return(101); });
    std::thread b([&] { wins += c.try_cancel(reason<Exit>()); });
    bool at1 = c.try_attach(t1), at2 = c.try_attach(t2);
    a.join();
    b.join();
    ASSERT_EQ(wins.load(), 1);
    ASSERT_FALSE(c.is_running());
    ASSERT_TRUE(!at1 || t1.is_signaled());
    ASSERT_TRUE(!at2 || t2.is_signaled());
  }
}

// ---- Tx --------------------------------------------------------------------------------

TEST(TxTest, CommitsAllOrNothing) {
  Computation<int> a;
  Computation<void> b;
  Trigger ta, tb;
  ASSERT_TRUE(a.try_attach(ta));
  ASSERT_TRUE(b.try_attach(tb));
  Tx tx;
  ASSERT_TRUE(tx.try_return(a, 101));
  ASSERT_TRUE(tx.try_cancel(b, reason<Exit>()));
  EXPECT_TRUE(a.is_running());  // nothing visible before commit
  ASSERT_TRUE(tx.try_commit());
  EXPECT_EQ(a.await(), 101);
  EXPECT_THROW(b.await(), Exit);
  EXPECT_TRUE(ta.is_signaled() && tb.is_signaled());
  EXPECT_THROW(tx.try_commit(), std::invalid_argument);
  EXPECT_THROW(tx.try_finish(b), std::invalid_argument);

  Computation<int> c, d;
  Tx tx2;
  ASSERT_TRUE(tx2.try_return(c, 1));
  ASSERT_TRUE(tx2.try_return(d, 2));
  d.try_return(3);  // completes outside the transaction first
  EXPECT_FALSE(tx2.try_commit());
  EXPECT_TRUE(c.is_running());  // rolled back: untouched
  EXPECT_EQ(d.await(), 3);

  Tx tx3;
  ASSERT_TRUE(tx3.try_return(c, 1));
  EXPECT_FALSE(tx3.try_return(c, 2));  // duplicate aborts
  EXPECT_TRUE(tx3.is_aborted());
  EXPECT_FALSE(tx3.try_commit());
  EXPECT_TRUE(c.is_running());
}

TEST(TxTest, RacingTransactionsNeverMix) {
  int a_wins = 0, b_wins = 0;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while ((a_wins < 100 || b_wins < 100) && std::chrono::steady_clock::now() < deadline) {
    Computation<int> a, b;
    std::atomic<bool> go{false};
    auto racer = [&](const Computation<int>& mine, int value, const Computation<int>& other) {
      while (!go.load()) {
      }
      while (mine.is_running() && other.is_running()) {
        Tx tx;
        if (tx.try_return(mine, value) && tx.try_cancel(other, reason<Exit>()))
          (void)tx.try_commit();
      }
    };
    std::thread ta(racer, a, 101, b);
    std::thread tb(racer, b, 42, a);
    go = true;
    ta.join();
    tb.join();
    bool a_won = a.is_returned() && b.is_canceled() && a.await() == 101;
    bool b_won = b.is_returned() && a.is_canceled() && b.await() == 42;
    ASSERT_TRUE(a_won != b_won) << "mixed outcome";
    (a_won ? a_wins : b_wins)++;
  }
  EXPECT_GE(a_wins, 1);
  EXPECT_GE(b_wins, 1);
}

// ---- Fiber -----------------------------------------------------------------------------

TEST(FiberTest, CurrentIsStableAndDistinctPerFiber) {
  testing::run([] {
    Fiber* parent = &Fiber::current();
    EXPECT_EQ(parent, &Fiber::current());
    std::atomic<Fiber*> child{nullptr};
    auto done = fork([&] { child = &Fiber::current(); });
    while (child.load() == nullptr) Fiber::yield();
    EXPECT_NE(child.load(), parent);
    EXPECT_EQ(parent, &Fiber::current());
    done.await();
  });
}

TEST(FiberTest, ForbidMasksCancelationAndRestores) {
  testing::run([] {
    with_own_computation([] {
      Fiber& f = Fiber::current();
      EXPECT_FALSE(f.has_forbidden());
      f.get_computation().cancel(reason<Exit>());
      EXPECT_TRUE(f.is_canceled());
      EXPECT_THROW(f.check(), Exit);
      f.forbid([&] {
        EXPECT_TRUE(f.has_forbidden());
        EXPECT_FALSE(f.is_canceled());
        EXPECT_EQ(f.canceled(), nullptr);
        f.check();
        Fiber::yield();  // no throw while forbidden
        f.permit([&] { EXPECT_THROW(f.check(), Exit); });
        EXPECT_TRUE(f.has_forbidden());
        // A trigger signaled by another fiber resumes a forbidden fiber normally.
        Trigger t;
        auto helper = Fiber::create(PackedComputation());
        Fiber::spawn(helper, [t] { t.signal(); });
        EXPECT_EQ(t.await(), nullptr);
      });
      EXPECT_FALSE(f.has_forbidden());
      EXPECT_THROW(f.forbid([]() { throw NotFound(); }), NotFound);
      EXPECT_FALSE(f.has_forbidden());
      EXPECT_FALSE(f.exchange_forbid(true));
      EXPECT_TRUE(f.exchange_forbid(false));
    });
  });
}

TEST(FiberTest, ComputationCanBeSwapped) {
  testing::run([] {
    Fiber& f = Fiber::current();
    PackedComputation original = f.get_computation();
    PackedComputation other;
    f.set_computation(other);
    EXPECT_TRUE(f.get_computation() == other);
    other.cancel(reason<Exit>());
    EXPECT_THROW(f.check(), Exit);
    f.set_computation(original);
    f.check();
  });
}

FlsKey<int> int_key;
FlsKey<double> float_key;
FlsKey<std::string> string_key;

TEST(FiberTest, FiberLocalStorageIsPerFiber) {
  testing::run([] {
    auto first = fork([] {
      EXPECT_THROW(int_key.get_or_throw(), FlsNotSet);
      EXPECT_EQ(int_key.get(), nullptr);
      int_key.set(42);
      float_key.set(4.2);
      string_key.set(std::string(100, 'x'));
      EXPECT_EQ(int_key.get_or_throw(), 42);
      EXPECT_EQ(float_key.get_or(0.0), 4.2);
      EXPECT_EQ(string_key.get_or_throw().size(), 100u);
      Fiber::yield();
      EXPECT_EQ(int_key.get_or_throw(), 42);  // kept across suspension
      float_key.remove();
      EXPECT_EQ(float_key.get_or(1.5), 1.5);
      string_key.set("y");
      EXPECT_EQ(string_key.get_or_throw(), "y");
    });
    auto second = fork([] {
      EXPECT_EQ(int_key.get_or(101), 101);
      int_key.reserve();
      int_key.set(7);
      Fiber::yield();
      EXPECT_EQ(int_key.get_or_throw(), 7);
    });
    first.await();
    second.await();
  });
}

TEST(FiberTest, FiberLocalValuesAreDestroyedWithTheFiber) {
  static FlsKey<std::shared_ptr<int>> key;
  auto token = std::make_shared<int>(1);
  {
    FiberRef f = Fiber::create(PackedComputation());
    key.set(token, *f);
    EXPECT_EQ(token.use_count(), 2);
  }
  EXPECT_EQ(token.use_count(), 1);
}

// A fiber's slot array starts at 3 slots (from a per-thread cache) and grows to 7, 15, 31:
// values set before a growth are kept, and every value is destroyed with the fiber, whichever
// thread frees its array.
TEST(FiberTest, FiberLocalStorageGrowsKeepingItsValues) {
  static FlsKey<std::shared_ptr<int>> keys[20];
  auto token = std::make_shared<int>(1);
  testing::run([&] {
    std::vector<Computation<void>> done;
    for (int f = 0; f < 4; ++f) {
      done.push_back(fork([&, f] {
        for (int i = 0; i < 20; ++i) {
          const int k = f % 2 == 0 ? i : 19 - i;  // low keys first (growing), or the highest
          keys[k].set(std::make_shared<int>(k));
          if (k % 5 == 0) Fiber::yield();
        }
        keys[3].set(token);
        for (int k = 0; k < 20; ++k) {
          if (k != 3) {
            EXPECT_EQ(*keys[k].get_or_throw(), k);
          }
        }
        Fiber::yield();
        EXPECT_EQ(keys[3].get_or_throw(), token);
        keys[7].remove();
        EXPECT_EQ(keys[7].get(), nullptr);
      }));
    }
    for (auto& d : done) d.await();
  });
  // Without a scheduler each fiber is a detached thread, which may still be dropping its
  // fiber when the computation it completed has been awaited: wait for that, boundedly.
  for (int i = 0; i < 10'000 && token.use_count() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(token.use_count(), 1);
}

// An exception tagged with the fiber that threw it.
struct Tagged : std::runtime_error {
  explicit Tagged(int id) : std::runtime_error("Tagged"), id(id) {}
  int id;
};

// The C++ runtime keeps the exceptions being handled, and std::uncaught_exceptions(), per
// thread: the schedulers keep them per fiber. A fiber may suspend inside a catch block, or in
// a destructor during unwinding, while other fibers on the same thread enter and leave theirs,
// and resume on another thread; it still handles its own exception afterwards. (Before, the
// fibers pushed and popped one thread's stack of caught exceptions: `throw;` rethrew another
// fiber's exception, and leaving a catch block freed the wrong one.)
TEST(FiberTest, ACatchBlockOrAnUnwindingDestructorMaySuspend) {
  testing::run([] {
    constexpr int kFibers = 4;
    std::vector<Computation<void>> done;
    for (int i = 0; i < kFibers; ++i) {
      done.push_back(fork([i] {
        try {
          throw Tagged(i);
        } catch (const Tagged& outer) {
          for (int k = 0; k < 3; ++k) Fiber::yield();  // the others enter their catch blocks
          EXPECT_EQ(std::uncaught_exceptions(), 0);
          try {
            throw;  // the exception being handled: this fiber's
          } catch (const Tagged& again) {
            Fiber::yield();
            EXPECT_EQ(again.id, i);
            EXPECT_EQ(&again, &outer);
          }
          Fiber::yield();
          try {
            std::rethrow_exception(std::current_exception());
          } catch (const Tagged& current) {
            EXPECT_EQ(current.id, i);
          }
        }
        // A destructor that suspends while an exception propagates.
        struct SuspendsOnDestruction {
          int* seen;
          ~SuspendsOnDestruction() {
            Fiber::yield();
            *seen = std::uncaught_exceptions();
          }
        };
        int seen = -1;
        try {
          SuspendsOnDestruction guard{&seen};
          throw Tagged(i);
        } catch (const Tagged& t) {
          EXPECT_EQ(t.id, i);
        }
        EXPECT_EQ(seen, 1);
        EXPECT_EQ(std::uncaught_exceptions(), 0);
        EXPECT_EQ(std::current_exception(), nullptr);
      }));
    }
    for (Computation<void>& d : done) d.await();
    EXPECT_EQ(std::uncaught_exceptions(), 0);
    EXPECT_EQ(std::current_exception(), nullptr);
  });
}

// A fiber looping on yield is canceled through its computation.
TEST(FiberTest, CancelInterruptsYieldLoop) {
  testing::run([] {
    Computation<void> c;
    Computation<void> done = spawn_on(c, [] {
      for (;;) Fiber::yield();
    });
    Fiber::yield();
    c.cancel(reason<Exit>());
    done.await();
    EXPECT_THROW(c.await(), Exit);
  });
}

TEST(FiberTest, CancelAfterInterruptsYieldLoop) {
  testing::run([] {
    Computation<void> c;
    c.cancel_after(0.01, reason<NotFound>());
    Computation<void> done = spawn_on(c, [] {
      for (;;) Fiber::yield();
    });
    done.await();
    EXPECT_THROW(c.await(), NotFound);
  });
}

TEST(FiberTest, OperationsOnACanceledFiberRaise) {
  testing::run([] {
    with_own_computation([] {
      Fiber& f = Fiber::current();
      f.get_computation().cancel(reason<Exit>());
      EXPECT_TRUE(holds<Exit>(Trigger().await()));
      EXPECT_THROW(PackedComputation().cancel_after(1.0, reason<NotFound>()), Exit);
      EXPECT_THROW(Fiber::yield(), Exit);
      bool spawned = false;
      EXPECT_THROW(Fiber::spawn(Fiber::create(PackedComputation()), [&] { spawned = true; }), Exit);
      EXPECT_THROW(Fiber::sleep(0.001), Exit);
      f.forbid([] { Fiber::yield(); });
      EXPECT_FALSE(spawned);
    });
  });
}

TEST(FiberTest, SpawnedMainRunsEvenIfCanceledBeforeStart) {
  testing::run([] {
    Computation<void> c;
    c.cancel(reason<Exit>());
    Computation<void> ran;
    Fiber::spawn(Fiber::create(c), [ran] {
      ran.finish();
      EXPECT_THROW(Fiber::current().check(), Exit);
    });
    ran.await();
  });
}

TEST(FiberTest, SleepReturnsAndIsCancelable) {
  testing::run([] {
    // No wall-clock assertion: under a virtual clock (randos) time does not pass for real.
    Fiber::sleep(0.005);
    Fiber::sleep(0ns);
    EXPECT_THROW(Fiber::sleep(-1.0), std::invalid_argument);
    EXPECT_THROW(Fiber::sleep(std::nan("")), std::invalid_argument);
    EXPECT_THROW(Fiber::sleep(-1ns), std::invalid_argument);

    Computation<void> c;
    Computation<void> done = spawn_on(c, [] { Fiber::sleep(3600.0); });
    Fiber::yield();
    c.cancel(reason<Exit>());
    done.await();  // woken by cancelation, not after an hour
    EXPECT_THROW(c.await(), Exit);
  });
}

TEST(FiberTest, SpawnRejectsAnEmptyMainBeforeSpawning) {
  testing::run([] {
    FiberRef f = Fiber::create(PackedComputation());
    const std::string kEmpty = "picos::Fiber::spawn: empty main";
    std::function<void()> empty;
    EXPECT_EQ(invalid_argument_of([&] { Fiber::spawn(f, empty); }), kEmpty);
    EXPECT_EQ(invalid_argument_of([&] { Fiber::spawn(f, std::function<void()>()); }), kEmpty);
    EXPECT_EQ(invalid_argument_of([&] { Fiber::spawn(f, std::as_const(empty)); }), kEmpty);
    void (*null_fn)() = nullptr;
    EXPECT_EQ(invalid_argument_of([&] { Fiber::spawn(f, null_fn); }), kEmpty);
    EXPECT_EQ(invalid_argument_of([&] { Fiber::spawn(f, absl::AnyInvocable<void()>()); }), kEmpty);
    // Nothing was spawned, and the fiber is not marked: it can still be spawned.
    Computation<void> ran;
    Fiber::spawn(f, std::function<void()>([ran] { ran.finish(); }));
    ran.await();
  });
}

TEST(FiberTest, AFiberIsSpawnedAtMostOnce) {
  const std::string kTwice = "picos::Fiber::spawn: the fiber has already been spawned";
  testing::run([&] {
    FiberRef f = Fiber::create(PackedComputation());
    Computation<void> ran;
    Fiber::spawn(f, [ran] { ran.finish(); });
    int second = 0;
    EXPECT_EQ(invalid_argument_of([&] { Fiber::spawn(f, [&second] { ++second; }); }), kTwice);
    ran.await();
    EXPECT_EQ(invalid_argument_of([&] { Fiber::spawn(f, [&second] { ++second; }); }), kTwice);
    // The running fiber, from inside.
    std::string inside;
    fork([&] {
      inside = invalid_argument_of([] { Fiber::spawn(FiberRef::share(&Fiber::current()), [] {}); });
    }).await();
    EXPECT_EQ(inside, kTwice);
    // A plain thread's implicit fiber counts as spawned.
    std::string implicit;
    std::thread([&] {
      implicit =
          invalid_argument_of([] { Fiber::spawn(FiberRef::share(&Fiber::current()), [] {}); });
    }).join();
    EXPECT_EQ(implicit, kTwice);
    Fiber::yield();
    EXPECT_EQ(second, 0);
  });
}

TEST(FiberTest, RacingSpawnsOfOneFiberExactlyOneWins) {
  // On plain threads (the default handler: each spawn starts an OS thread).
  for (int i = 0; i < 50; ++i) {
    FiberRef f = Fiber::create(PackedComputation());
    Computation<void> ran;
    std::atomic<int> wins{0}, rejected{0};
    std::atomic<bool> go{false};
    auto racer = [&] {
      while (!go.load()) {
      }
      try {
        Fiber::spawn(f, [ran] { ran.finish(); });
        ++wins;
      } catch (const std::invalid_argument&) {
        ++rejected;
      }
    };
    std::thread a(racer), b(racer);
    go = true;
    a.join();
    b.join();
    ran.await();
    ASSERT_EQ(wins.load(), 1);
    ASSERT_EQ(rejected.load(), 1);
  }
}

TEST(FiberTest, SleepAndCancelAfterErrorsNameTheFunction) {
  testing::run([] {
    EXPECT_EQ(invalid_argument_of([] { Fiber::sleep(-5ns); }),
              "picos::Fiber::sleep: delay must be non-negative (got -5 ns)");
    EXPECT_EQ(invalid_argument_of([] { Fiber::sleep(-1s); }),
              "picos::Fiber::sleep: delay must be non-negative (got -1000000000 ns)");
    EXPECT_EQ(invalid_argument_of([] { Fiber::sleep(-1e-10); }),
              "picos::Fiber::sleep: delay must be non-negative (got -1e-10 s)");
    EXPECT_EQ(invalid_argument_of([] { Fiber::sleep(std::nan("")); }),
              "picos::Fiber::sleep: delay is NaN");
    PackedComputation c;
    EXPECT_EQ(invalid_argument_of([&] { c.cancel_after(-5ns, reason<Exit>()); }),
              "picos::PackedComputation::cancel_after: delay must be non-negative (got -5 ns)");
    EXPECT_EQ(invalid_argument_of([&] { c.cancel_after(-1.5, reason<Exit>()); }),
              "picos::PackedComputation::cancel_after: delay must be non-negative (got -1.5 s)");
    EXPECT_EQ(invalid_argument_of([&] { c.cancel_after(std::nan(""), reason<Exit>()); }),
              "picos::PackedComputation::cancel_after: delay is NaN");
    EXPECT_TRUE(c.is_running());
  });
}

// ---- cancel_after ------------------------------------------------------------------------

TEST(CancelAfterTest, FiresAndCanBeAwaited) {
  testing::run([] {
    Computation<void> c;
    c.cancel_after(0.01, reason<Exit>());
    c.wait();
    EXPECT_THROW(c.await(), Exit);
  });
}

TEST(CancelAfterTest, RejectsBadDelays) {
  testing::run([] {
    PackedComputation c;
    EXPECT_THROW(c.cancel_after(-0.001, reason<Exit>()), std::invalid_argument);
    EXPECT_THROW(c.cancel_after(std::nan(""), reason<Exit>()), std::invalid_argument);
    EXPECT_THROW(c.cancel_after(-5ns, reason<Exit>()), std::invalid_argument);
    EXPECT_THROW(c.cancel_after(1.0, nullptr), std::invalid_argument);
    EXPECT_TRUE(c.is_running());
  });
}

TEST(CancelAfterTest, HugeDelayArmsAndIsRemovedOnCompletion) {
  testing::run([] {
    Computation<void> c;
    c.cancel_after(10e10, reason<Exit>());
    c.cancel_after(std::numeric_limits<double>::infinity(), reason<Exit>());
    c.cancel_after(std::chrono::nanoseconds::max(), reason<Exit>());
    EXPECT_EQ(c.bag_size_for_testing(),
              0u);  // a timer attaches nothing (picos/internal/timer_heap.h)
    c.finish();
    EXPECT_TRUE(c.is_returned());
  });
}

// seconds::max() and 300 years do not fit nanoseconds: they saturate and never fire (an
// implicit conversion would overflow; seconds::max() would arrive negative and be rejected).
TEST(CancelAfterTest, DurationsTooLongForNanosecondsSaturate) {
  testing::run([] {
    const auto k300Years = std::chrono::hours(24 * 365 * 300);
    Computation<void> c;
    c.cancel_after(std::chrono::seconds::max(), reason<Exit>());
    c.cancel_after(k300Years, reason<Exit>());
    c.cancel_after(std::chrono::duration<double, std::ratio<3600>>(1e300), reason<Exit>());
    // Sleeps that only cancelation ends.
    Computation<void> s1, s2;
    Computation<void> done1 = spawn_on(s1, [] { Fiber::sleep(std::chrono::seconds::max()); });
    Computation<void> done2 = spawn_on(s2, [k300Years] { Fiber::sleep(k300Years); });
    Fiber::sleep(0.01);
    EXPECT_TRUE(c.is_running());  // no timer fired
    EXPECT_TRUE(s1.is_running() && s2.is_running());
    c.finish();
    s1.cancel(reason<NotFound>());
    s2.cancel(reason<NotFound>());
    done1.await();
    done2.await();
    EXPECT_THROW(s1.await(), NotFound);  // woken by the cancelation, not an error
    EXPECT_THROW(s2.await(), NotFound);
    // Negative durations of any unit are still rejected.
    PackedComputation p;
    EXPECT_THROW(p.cancel_after(-1s, reason<Exit>()), std::invalid_argument);
    EXPECT_THROW(p.cancel_after(-std::chrono::hours(1), reason<Exit>()), std::invalid_argument);
    EXPECT_THROW(p.cancel_after(std::chrono::seconds::min(), reason<Exit>()),
                 std::invalid_argument);
    EXPECT_THROW(Fiber::sleep(-std::chrono::milliseconds(1)), std::invalid_argument);
    EXPECT_THROW(Fiber::sleep(std::chrono::duration<double>(-0.5)), std::invalid_argument);
    EXPECT_TRUE(p.is_running());
  });
}

TEST(CancelAfterTest, CompletionFirstMeansNoCancel) {
  testing::run([] {
    Computation<int> c;
    c.cancel_after(0.2, reason<Exit>());  // generous: completion below comes first
    c.try_return(5);
    Fiber::sleep(0.3);  // past the deadline: the removed timer must not fire
    EXPECT_EQ(c.await(), 5);
  });
}

// ---- scheduler behaviour seen through the core -------------------------------------------

TEST(SchedulerTest, TrivialMainReturns) {
  EXPECT_EQ(testing::run([] { return 42; }), 42);
}

TEST(SchedulerTest, CompletesTheMainComputation) {
  Computation<int> c;
  testing::run_fiber(Fiber::create(c), [c] { c.capture([] { return 101; }); });
  EXPECT_EQ(c.await(), 101);
  struct Failure : std::runtime_error {
    Failure() : std::runtime_error("42") {}
  };
  EXPECT_THROW(testing::run([]() -> int { throw Failure(); }), Failure);
}

TEST(SchedulerTest, ManyFibersBlockedThenSignaledInABatch) {
  testing::run([] {
    const int n = testing::capabilities().fibers_are_threads ? 200 : testing::scaled(10000);
    std::vector<Trigger> triggers(static_cast<std::size_t>(n));
    std::atomic<int> woken{0};
    std::vector<Computation<void>> done;
    for (auto& t : triggers) {
      done.push_back(fork([t, &woken] {
        EXPECT_EQ(t.await(), nullptr);
        woken++;
      }));
    }
    Fiber::yield();
    for (auto& t : triggers) t.signal();
    for (auto& d : done) d.await();
    EXPECT_EQ(woken.load(), n);
  });
}

// Two instances of this target's scheduler on two threads hand a baton back and forth
// through triggers: every resume comes from a foreign scheduler thread.
TEST(SchedulerTest, CrossThreadWakeups) {
  constexpr int kHandoffs = testing::scaled(10000);
  struct Slot {
    std::atomic<Trigger*> trigger{nullptr};
  };
  Slot to_a, to_b;
  std::atomic<int> rounds{0};
  // Each side: publish own trigger, signal the peer's, await own. Symmetric, no deadlock.
  auto run_side = [&](Slot& mine, Slot& peer) {
    testing::run([&] {
      for (int i = 0; i < kHandoffs; ++i) {
        Trigger t;
        mine.trigger.store(new Trigger(t));
        Trigger* other;
        while ((other = peer.trigger.exchange(nullptr)) == nullptr) std::this_thread::yield();
        other->signal();
        delete other;
        EXPECT_EQ(t.await(), nullptr);
        rounds++;
      }
    });
  };
  std::thread b([&] { run_side(to_b, to_a); });
  run_side(to_a, to_b);
  b.join();
  EXPECT_EQ(rounds.load(), 2 * kHandoffs);
  delete to_a.trigger.exchange(nullptr);
  delete to_b.trigger.exchange(nullptr);
}

// The last wake-up of a scheduler's life comes from a thread that is not one of its own: the
// signaler may still be inside the scheduler's wake-up path when the woken main fiber returns
// and the scheduler is torn down. Run under ASan/TSan, a scheduler that frees itself too early
// shows up here as a use-after-free (multififo did, before push_foreign held a reference).
TEST(SchedulerTest, OutsideSignalRacesSchedulerShutdown) {
  constexpr int kRuns = testing::scaled(1000);
  for (int i = 0; i < kRuns; ++i) {
    std::atomic<Trigger*> slot{nullptr};
    std::thread signaler([&] {
      Trigger* t;
      while ((t = slot.exchange(nullptr)) == nullptr) std::this_thread::yield();
      t->signal();
      delete t;
    });
    testing::run([&] {
      Trigger t;
      slot.store(new Trigger(t));
      EXPECT_EQ(t.await(), nullptr);
    });
    signaler.join();
  }
}

// Resident memory of the process in KiB (from /proc/self/status), or 0 if unknown.
long rss_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  long kib = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib;
}

TEST(SchedulerTest, HundredThousandLiveFibersReport) {
  testing::run([] {
    // 100,000 fibers alive at once (1,000 where fibers are OS threads), all blocked on one
    // computation, then released together.
    const int n = testing::capabilities().fibers_are_threads || testing::kSanitizer ? 1000 : 100000;
    Computation<void> gate;
    std::atomic<int> started{0}, finished{0};
    Computation<void> all_done;
    long before = rss_kib();
    for (int i = 0; i < n; ++i) {
      // `n` by value: a fiber that is not the last may still compare after the last one has
      // finished all_done and this frame is gone (seen by TSan where fibers are threads).
      Fiber::spawn(Fiber::create(PackedComputation()), [&started, &finished, n, gate, all_done] {
        started++;
        gate.await();
        if (++finished == n) all_done.finish();
      });
    }
    while (started.load() < n) Fiber::yield();
    long during = rss_kib();
    // All n alive at once: none got past the gate. (That all n then finish is what the
    // await of all_done shows: it completes only with the last one.)
    EXPECT_EQ(finished.load(), 0) << "fibers went through a gate that was still closed";
    gate.finish();
    all_done.await();
    std::printf("[%s] %d live fibers: ~%ld bytes of resident memory per blocked fiber\n",
                testing::scheduler_name(), n, (during - before) * 1024 / n);
  });
}

TEST(SchedulerTest, CancelationReachesABlockedFiberFromAnotherThread) {
  testing::run([] {
    Computation<void> victim;
    std::atomic<bool> blocked{false};
    Computation<void> done = spawn_on(victim, [&] {
      Trigger never;
      blocked = true;
      if (std::exception_ptr r = never.await()) std::rethrow_exception(r);
    });
    while (!blocked.load()) Fiber::yield();
    std::thread canceler([victim] { victim.cancel(std::make_exception_ptr(Exit())); });
    done.await();
    canceler.join();
    EXPECT_THROW(victim.await(), Exit);
  });
}

// Yields until `done()` or 10 s have passed (on the thread scheduler the fibers are threads:
// what they do is seen a little later). Returns done().
template <typename Done>
bool yield_until(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done() && std::chrono::steady_clock::now() < deadline) Fiber::yield();
  return done();
}

// A fiber's first cancelable wait links its cancel slot into its computation's list (not its
// bag); the fiber's end unlinks it, and a cancelation takes the whole list and ends every
// wait in it (picos/fiber.h, WaitSlot).
TEST(SchedulerTest, FibersSharingAComputationLinkTheirCancelSlots) {
  testing::run([] {
    constexpr int n = testing::kSanitizer ? 20 : 100;
    PackedComputation shared;
    std::atomic<int> finished{0};
    Computation<void> go;
    Computation<void> all_done;
    for (int i = 0; i < n; ++i) {
      Fiber::spawn(Fiber::create(shared), [&finished, go, all_done] {
        go.await();  // a cancelable wait on a trigger of its own, attached to `go`
        if (++finished == n) all_done.finish();
      });
    }
    EXPECT_TRUE(yield_until([&] { return shared.linked_slots_for_testing() == std::size_t(n); }))
        << shared.linked_slots_for_testing() << " of " << n << " slots linked";
    EXPECT_EQ(shared.bag_size_for_testing(), 0u);
    go.finish();
    all_done.await();
    EXPECT_TRUE(yield_until([&] { return shared.linked_slots_for_testing() == 0; }))
        << shared.linked_slots_for_testing() << " slots still linked";
    EXPECT_TRUE(shared.is_running());

    // The same with a cancelation: every wait ends with the reason, the list is taken.
    PackedComputation victims;
    std::atomic<int> canceled{0}, ended{0};
    Computation<void> never;  // finished only to free the fibers of lost cancelations
    Computation<void> all_ended;
    for (int i = 0; i < n; ++i) {
      Fiber::spawn(Fiber::create(victims), [&canceled, &ended, never, all_ended] {
        try {
          never.await();
        } catch (const Exit&) {
          ++canceled;
        }
        if (++ended == n) all_ended.finish();
      });
    }
    EXPECT_TRUE(yield_until([&] { return victims.linked_slots_for_testing() == std::size_t(n); }));
    EXPECT_TRUE(victims.try_cancel(std::make_exception_ptr(Exit())));
    EXPECT_EQ(victims.linked_slots_for_testing(), 0u);
    EXPECT_TRUE(yield_until([&] { return canceled.load() == n; }))
        << canceled.load() << " of " << n << " waits ended by the cancelation";
    never.finish();
    all_ended.await();
    EXPECT_EQ(canceled.load(), n);
  });
}

// A fiber that leaves a computation (set_computation) unlinks its slot there: canceling the
// computation it left does not end its later waits, and its next wait links a new slot into
// the new computation.
TEST(SchedulerTest, ALeftComputationCannotEndALaterWait) {
  testing::run([] {
    PackedComputation first, second;
    Trigger warm_up, later;
    std::atomic<int> step{0};
    std::atomic<bool> later_canceled{true};
    Computation<void> done;
    Fiber::spawn(Fiber::create(first), [&, warm_up, later, done, second] {
      if (std::exception_ptr r = warm_up.await()) std::rethrow_exception(r);  // links in first
      Fiber::current().set_computation(second);
      step = 1;
      later_canceled = later.await() != nullptr;  // links in second
      done.finish();
    });
    EXPECT_TRUE(yield_until([&] { return first.linked_slots_for_testing() == 1; }));
    warm_up.signal();
    EXPECT_TRUE(yield_until([&] { return second.linked_slots_for_testing() == 1; }));
    EXPECT_EQ(step.load(), 1);
    EXPECT_EQ(first.linked_slots_for_testing(), 0u);
    first.cancel(std::make_exception_ptr(Exit()));
    for (int i = 0; i < 10; ++i) Fiber::yield();
    EXPECT_FALSE(later.is_signaled()) << "the computation the fiber left ended its wait";
    later.signal();
    done.await();
    EXPECT_FALSE(later_canceled.load());
  });
}

// The handshake between a fiber starting a cancelable wait and a canceler on another thread
// (picos/fiber.cc, Fiber::cancel_waiter): whichever goes second must see the other, also when
// they meet inside try_suspend. Each round a fresh fiber spins a random while and waits on a
// trigger nobody signals (its second wait: the first linked its cancel slot); another thread
// cancels it after a random while of its own, so that over the rounds the cancelation lands
// before, during and after the wait starts. A lost cancelation leaves the fiber waiting:
// reported after 10 s, not a hang. (It fails when the fiber's side skips its status check;
// the store-load reordering the fences exist for is a window of a few cycles that it does not
// hit reliably: that part rests on picos/internal/asymmetric_fence.h's argument.)
void cancelation_races_the_start_of_a_wait() {
  testing::run([] {
    constexpr int kRounds = 3000;
    std::atomic<Computation<void>*> target{nullptr};
    std::atomic<bool> stop{false};
    std::atomic<int> spin{0};
    auto pause = [](int n) {
      std::atomic<int> i{0};
      while (i.load(std::memory_order_relaxed) < n) i.fetch_add(1, std::memory_order_relaxed);
    };
    std::thread canceler([&] {
      while (!stop.load()) {
        Computation<void>* c = target.load();
        if (c == nullptr) {
          // Waiting for the next round: give the core away if another thread wants it. Alone
          // on its core this returns at once, so the canceler still races the victim; where
          // the machine is oversubscribed (parallel tests, the thread scheduler's victim and
          // main thread) a bare spin held the core for whole time slices: 8 ms a round.
          std::this_thread::yield();
          continue;
        }
        pause(spin.load());
        c->cancel(std::make_exception_ptr(Exit()));
        target.store(nullptr);
      }
    });
    std::mt19937 rng(12345);
    int lost_round = -1;
    for (int round = 0; round < kRounds && lost_round < 0; ++round) {
      Computation<void> victim;
      const int spin_waiter = static_cast<int>(rng() % 400);
      spin.store(static_cast<int>(rng() % 400));
      Trigger warm_up;
      Trigger never;  // signaled only to free the fiber of a lost round
      std::atomic<bool> warming{false};
      Computation<void> done = spawn_on(victim, [&pause, &warming, spin_waiter, warm_up, never] {
        // A first wait links the fiber's cancel slot: the second takes the usual path.
        warming.store(true);
        if (std::exception_ptr r = warm_up.await()) std::rethrow_exception(r);
        pause(spin_waiter);
        if (std::exception_ptr r = never.await()) std::rethrow_exception(r);
      });
      while (!warming.load()) Fiber::yield();
      warm_up.signal();
      target.store(&victim);
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (done.is_running() || target.load() != nullptr) {
        if (std::chrono::steady_clock::now() > deadline) {
          lost_round = round;
          never.signal();
          done.await();
          break;
        }
        Fiber::yield();
      }
      if (lost_round < 0) {
        EXPECT_THROW(victim.await(), Exit);
      }
    }
    stop.store(true);
    canceler.join();
    EXPECT_EQ(lost_round, -1) << "the cancelation of round " << lost_round << " was lost";
  });
}

TEST(SchedulerTest, CancelationRacingTheStartOfAWaitIsNeverLost) {
  cancelation_races_the_start_of_a_wait();
}

// The same with both sides sequentially consistent (where membarrier is refused).
TEST(SchedulerTest, CancelationRacingTheStartOfAWaitIsNeverLostWithoutLightFences) {
  internal::set_asymmetric_fences_for_testing(false);
  cancelation_races_the_start_of_a_wait();
  internal::set_asymmetric_fences_for_testing(true);
}

TEST(SchedulerTest, ForbiddenFiberIsNotWokenByCancelation) {
  testing::run([] {
    Computation<void> c;
    Computation<int> result;
    Trigger t;
    std::atomic<bool> blocked{false};
    Fiber::spawn(Fiber::create(c, /*forbid=*/true), [&, t, result] {
      blocked = true;
      result.capture([t] { return t.await() == nullptr ? 1 : 0; });
    });
    while (!blocked.load()) Fiber::yield();
    c.cancel(std::make_exception_ptr(Exit()));
    Fiber::sleep(0.002);
    EXPECT_TRUE(result.is_running());  // still waiting: cancelation is masked
    t.signal();
    EXPECT_EQ(result.await(), 1);
  });
}

TEST(SchedulerTest, YieldFairnessReport) {
  testing::run([] {
    const int fibers = testing::capabilities().fibers_are_threads ? 8 : 100;
    const int yields = testing::capabilities().fibers_are_threads ? 1000 : testing::scaled(10000);
    std::vector<std::atomic<int>> counts(static_cast<std::size_t>(fibers));
    std::atomic<int> finished{0};
    std::vector<Computation<void>> done;
    for (int i = 0; i < fibers; ++i) {
      done.push_back(fork([&, i] {
        for (int k = 0; k < yields; ++k) {
          counts[static_cast<std::size_t>(i)]++;
          Fiber::yield();
        }
        finished++;
      }));
    }
    // When the first fiber finishes, how far along are the others?
    while (finished.load() == 0) Fiber::yield();
    double sum = 0, sq = 0;
    int min = yields;
    for (auto& c : counts) {
      double x = c.load() / static_cast<double>(yields);
      sum += x;
      sq += x * x;
      min = std::min(min, c.load());
    }
    double mean = sum / fibers;
    double sd = std::sqrt(std::max(0.0, sq / fibers - mean * mean));
    std::printf(
        "[%s] yield fairness when the first of %d fibers finished %d yields: mean %.3f "
        "sd %.3f min %.3f (ideal 1/0/1)\n",
        testing::scheduler_name(), fibers, yields, mean, sd, min / static_cast<double>(yields));
    for (auto& d : done) d.await();
    EXPECT_EQ(finished.load(), fibers);
  });
}

}  // namespace
}  // namespace picos
