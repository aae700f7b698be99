// Copyright 2026 The Picos for C++ Authors.
//
// picos::structured on every scheduler of the conformance matrix: the test_structured cases of
// the spec, virtual-clock races, leak checks under random failures, parent cancelation while
// children block, and forks into finished or terminated scopes. Every scope is checked to
// restore the fiber's computation.

#include "std/structured/structured.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/event/event.h"
#include "std/structured/promise_event.h"
#include "std/sync/condition.h"
#include "std/sync/ivar.h"
#include "std/sync/mutex.h"
#include "std/sync/sync_testing.h"

namespace picos::structured {
namespace {

namespace st = picos::sync::testing;

using namespace std::chrono_literals;

struct Boom : std::runtime_error {
  explicit Boom(const std::string& what = "Boom") : std::runtime_error(what) {}
};

// Runs `f()` and checks that the fiber's computation is the same afterwards, however `f`
// ends; rethrows what it threw.
template <typename F>
decltype(auto) restoring(F&& f) {
  const PackedComputation before = Fiber::current().get_computation();
  struct Check {
    PackedComputation before;
    ~Check() {
      EXPECT_TRUE(Fiber::current().get_computation() == before) << "computation not restored";
    }
  } check{before};
  return f();
}

// A promise's body: 42, after sleeping `delay`.
auto answer_after(std::chrono::milliseconds delay) {
  return [delay] {
    Control::sleep(delay);
    return 42;
  };
}

// ---- scope rules -------------------------------------------------------------------------

TEST(StructuredTest, ForkAfterTerminateRaisesTerminate) {
  picos::testing::run([] {
    restoring([] {
      Flock::join_after([] {
        Flock::terminate();
        bool ran = false;
        EXPECT_THROW(Flock::fork([&] { ran = true; }), Terminate);
        EXPECT_THROW(Flock::fork_as_promise([] { return 1; }), Terminate);
        EXPECT_FALSE(ran);
      });
    });
  });
}

TEST(StructuredTest, ForkAfterEscapeRaisesInvalidArgument) {
  picos::testing::run([] {
    std::optional<Bundle> escaped;
    restoring([&] { Bundle::join_after([&](Bundle& b) { escaped = b; }); });
    try {
      escaped->fork([] { ADD_FAILURE() << "forked into a joined scope"; });
      ADD_FAILURE() << "fork did not throw";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::strstr(e.what(), "already been joined"), nullptr) << e.what();
    }
    EXPECT_THROW(escaped->fork_as_promise([] { return 1; }), std::invalid_argument);
  });
}

// A callable whose copy throws when `boom` is set: fork copies it into the fiber, and that
// copy is the caller's code.
struct CopyThrows {
  CopyThrows(bool boom, std::atomic<int>* ran) : boom(boom), ran(ran) {}
  CopyThrows(const CopyThrows& o) : boom(o.boom), ran(o.ran) {
    if (boom) throw Boom("copy");
  }
  CopyThrows(CopyThrows&&) noexcept = default;
  int operator()() const { return ++*ran; }
  bool boom;
  std::atomic<int>* ran;
};

// The throw reaches the caller, nothing runs, and the scope joins. Before the fix, the child
// stayed counted in and join_after waited for it for good.
TEST(StructuredTest, AForkWhoseCallableThrowsOnCopyForksNothing) {
  picos::testing::run([] {
    std::atomic<int> ran{0};
    restoring([&] {
      Bundle::join_after([&](Bundle& b) {
        const CopyThrows bad(true, &ran), good(false, &ran);
        EXPECT_THROW(b.fork(bad), Boom);
        EXPECT_THROW(b.fork_as_promise(bad), Boom);
        b.fork(good);  // the scope works on
        EXPECT_GE(b.fork_as_promise(good).await(), 1);
      });
    });
    EXPECT_EQ(ran.load(), 2);
    restoring([&] {
      Flock::join_after([&] {
        const CopyThrows bad(true, &ran);
        EXPECT_THROW(Flock::fork(bad), Boom);
        EXPECT_THROW(Flock::fork_as_promise(bad), Boom);
      });
    });
    EXPECT_EQ(ran.load(), 2);
  });
}

// An empty std::function or a null function pointer is refused before anything is forked
// (it reached the child before: bad_function_call there terminated the scope).
TEST(StructuredTest, AnEmptyFunctionIsNotForked) {
  picos::testing::run([] {
    restoring([] {
      Bundle::join_after([](Bundle& b) {
        const std::function<void()> empty;
        const std::function<int()> empty_int;
        void (*null_fn)() = nullptr;
        EXPECT_THROW(b.fork(empty), std::invalid_argument);
        EXPECT_THROW(b.fork(null_fn), std::invalid_argument);
        try {
          (void)b.fork_as_promise(empty_int);
          ADD_FAILURE() << "fork_as_promise forked an empty function";
        } catch (const std::invalid_argument& e) {
          EXPECT_STREQ(e.what(), "picos::structured::Bundle::fork_as_promise: empty function");
        }
        EXPECT_TRUE(b.is_running());  // no error was recorded: the scope goes on
      });
    });
  });
}

TEST(StructuredTest, FlockOperationsOutsideAFlockRaise) {
  picos::testing::run([] {
    try {
      Flock::fork([] {});
      ADD_FAILURE() << "fork did not throw";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::strstr(e.what(), "no flock"), nullptr) << e.what();
    }
    EXPECT_THROW(Flock::terminate(), std::invalid_argument);
    EXPECT_THROW(Flock::fork_as_promise([] { return 1; }), std::invalid_argument);
    // And again after a flock has come and gone: the key is restored.
    Flock::join_after([] { Flock::fork([] {}); });
    EXPECT_THROW(Flock::fork([] {}), std::invalid_argument);
  });
}

TEST(StructuredTest, ExceptionInChildTerminates) {
  picos::testing::run([] {
    sync::Mutex m;
    sync::Condition cond;
    std::atomic<bool> waiting{false};
    bool relocked = false;
    EXPECT_THROW(restoring([&] {
                   Flock::join_after([&] {
                     Flock::fork([&] {
                       while (!waiting.load()) Control::yield();
                       {
                         std::lock_guard<sync::Mutex> g(m);  // the parent is in wait now
                       }
                       throw Boom();
                     });
                     std::unique_lock<sync::Mutex> lock(m);
                     waiting = true;
                     struct Relocked {
                       bool& flag;
                       sync::Mutex& m;
                       ~Relocked() { flag = !m.try_lock(); }  // still held by us
                     } check{relocked, m};
                     for (;;) cond.wait(m);
                   });
                 }),
                 Boom);
    EXPECT_TRUE(relocked);
    EXPECT_TRUE(m.try_lock());  // released by the unique_lock
    m.unlock();
  });
}

// Forks `body` in a flock nested in a child of an outer flock, waits until `started()`,
// then ends the outer flock with OnReturn::kTerminate: the termination reaches `body` through
// the nested scopes, and this returns once everything has joined.
template <typename Body, typename Started>
void terminate_nested(Body body, Started started) {
  restoring([&] {
    Flock::join_after(
        [&] {
          Flock::fork([&] { Flock::join_after([&] { Flock::fork(body); }); });
          while (!started()) Control::yield();
        },
        OnReturn::kTerminate);
  });
}

TEST(StructuredTest, CancelationAwaitsChildren) {
  picos::testing::run([] {
    std::atomic<bool> slept{false};
    std::atomic<bool> blocked{false};
    terminate_nested(
        [&] {
          std::exception_ptr e;
          try {
            blocked = true;
            Control::block();
          } catch (...) {
            e = std::current_exception();
          }
          Control::protect([&] {
            Control::sleep(20ms);
            slept = true;
          });
          std::rethrow_exception(e);
        },
        [&] { return blocked.load(); });
    EXPECT_TRUE(slept.load());
  });
}

TEST(StructuredTest, BlockRaisesWhenForbidden) {
  picos::testing::run(
      [] { Control::protect([] { EXPECT_THROW(Control::block(), std::invalid_argument); }); });
}

TEST(StructuredTest, BlockRaisesWhenTheComputationFinishes) {
  picos::testing::run([] {
    Computation<void> c;
    Computation<void> done;
    std::atomic<bool> started{false};
    std::atomic<bool> raised{false};
    Fiber::spawn(Fiber::create(c), [&, done] {
      started = true;
      try {
        Control::block();
      } catch (const std::runtime_error& e) {
        raised = std::strstr(e.what(), "computation finished") != nullptr;
      }
      done.finish();
    });
    while (!started.load()) Fiber::yield();
    Fiber::sleep(1ms);
    c.finish();
    done.await();
    EXPECT_TRUE(raised.load());
    // Already finished before block: raises at once.
    Computation<void> finished = Computation<void>::returned();
    Computation<void> done2;
    Fiber::spawn(Fiber::create(finished), [&, done2] {
      EXPECT_THROW(Control::block(), std::runtime_error);
      done2.finish();
    });
    done2.await();
  });
}

TEST(StructuredTest, TerminationNests) {
  picos::testing::run([] {
    std::atomic<int> stopped{0};
    std::atomic<int> started{0};
    terminate_nested(
        [&] {
          Flock::join_after([&] {  // waits: only the outer termination stops it
            Flock::fork([&] {
              struct Count {
                std::atomic<int>& n;
                ~Count() { ++n; }
              } count{stopped};
              ++started;
              for (;;) Control::sleep(1ms);
            });
          });
        },
        [&] { return started.load() != 0; });
    EXPECT_EQ(stopped.load(), 1);
  });
}

TEST(StructuredTest, PromiseCancelationDoesNotTerminate) {
  picos::testing::run([] {
    restoring([] {
      Flock::join_after([] {
        auto p = Flock::fork_as_promise([] { Control::block(); });
        auto q = Flock::fork_as_promise([] {
          Control::sleep(1ms);
          return 7;
        });
        Control::yield();
        EXPECT_TRUE(p.is_running());
        p.terminate();
        EXPECT_THROW(p.await(), Terminate);
        EXPECT_FALSE(p.try_await());
        EXPECT_EQ(q.await(), 7);  // the scope was not terminated
        EXPECT_EQ(q.try_await(), std::optional<int>(7));
        EXPECT_TRUE(Flock::current().is_running());
      });
    });
  });
}

TEST(StructuredTest, ErrorInPromiseTerminates) {
  picos::testing::run([] {
    EXPECT_THROW(restoring([] {
                   Flock::join_after([] {
                     auto p = Flock::fork_as_promise([]() -> int { throw Boom(); });
                     Control::block();
                   });
                 }),
                 Boom);
  });
}

TEST(StructuredTest, CanWaitPromises) {
  picos::testing::run([] {
    int v = restoring([] {
      return Bundle::join_after([](Bundle& b) {
        auto p = b.fork_as_promise(answer_after(20ms));
        return p.await();
      });
    });
    EXPECT_EQ(v, 42);
    EXPECT_EQ(Promise<int>::of_value(5).await(), 5);
  });
}

// The spec's "can select promises": select [completed a; completed b] = 42, b never completes.
TEST(StructuredTest, CanSelectPromises) {
  picos::testing::run([] {
    int v = restoring([] {
      return Bundle::join_after([](Bundle& b) {
        auto a = b.fork_as_promise(answer_after(10ms));
        auto never = b.fork_as_promise([]() -> int {
          Control::block();
          return 0;
        });
        int got = event::select<int>({completed(a), completed(never)});
        EXPECT_TRUE(never.is_running());  // losing the select does not terminate it
        never.terminate();
        return got;
      });
    });
    EXPECT_EQ(v, 42);
  });
}

TEST(StructuredTest, FirstOrTerminateOverPromises) {
  picos::testing::run([] {
    restoring([] {
      Flock::join_after([] {
        auto a = Flock::fork_as_promise(answer_after(10ms));
        auto b = Flock::fork_as_promise([]() -> int { Control::block(); });
        EXPECT_EQ(Run::first_or_terminate(std::vector<Promise<int>>{a, b}), 42);
        EXPECT_THROW(b.await(), Terminate);  // terminated by first_or_terminate
        auto c = Flock::fork_as_promise([]() -> int { Control::block(); });
        c.terminate();
        EXPECT_THROW(Run::first_or_terminate(std::vector<Promise<int>>{c}), Terminate);
      });
    });
  });
}

TEST(StructuredTest, SeveralErrorsAreAggregatedInOrder) {
  picos::testing::run([] {
    try {
      restoring([] {
        Bundle::join_after([](Bundle& b) {
          // Both children start before either fails (the spin is protected, so the first
          // failure cannot stop the second), so both errors are raised.
          auto ready = std::make_shared<std::atomic<int>>(0);
          auto fail = [ready](const char* what) {
            ++*ready;
            Control::protect([&] {
              while (ready->load() < 2) Control::yield();
            });
            throw Boom(what);
          };
          b.fork([fail] { fail("a"); });
          b.fork([fail] { fail("b"); });
          b.fork([] { throw Terminate(); });  // not an error
        });
      });
      ADD_FAILURE() << "join_after returned";
    } catch (const Errors& e) {
      ASSERT_EQ(e.errors().size(), 2u) << e.what();
      std::string w = e.what();
      EXPECT_TRUE(w == "Errors[a; b]" || w == "Errors[b; a]") << w;
    }
  });
}

TEST(StructuredTest, ErrorsWinOverWhatTheBodyThrows) {
  picos::testing::run([] {
    EXPECT_THROW(Bundle::join_after([](Bundle& b) {
                   b.fork([] { throw Boom(); });
                   Control::block();  // raises Terminate when the child fails
                 }),
                 Boom);
    // A body error alone is re-raised after the join.
    std::atomic<bool> child_done{false};
    EXPECT_THROW(Bundle::join_after([&](Bundle& b) {
                   b.fork([&] {
                     Control::protect([&] { Control::sleep(5ms); });
                     child_done = true;
                   });
                   throw st::Stop();
                 }),
                 st::Stop);
    EXPECT_TRUE(child_done.load());
  });
}

TEST(StructuredTest, CancelationOfTheParentCancelsBlockedChildren) {
  picos::testing::run([] {
    const int n = st::threads_are_fibers() ? 5 : 20;
    std::atomic<int> blocked{0}, saw_stop{0}, cleaned{0};
    std::atomic<bool> joined_after_cleanup{false}, parent_got_stop{false};
    Computation<void> parent;
    Computation<void> done;
    Fiber::spawn(Fiber::create(parent), [&, done] {
      std::exception_ptr e;
      try {
        restoring([&] {
          Bundle::join_after([&](Bundle& b) {
            for (int i = 0; i < n; ++i) {
              b.fork([&] {
                std::exception_ptr x;
                try {
                  ++blocked;
                  Control::block();
                } catch (...) {
                  x = std::current_exception();
                }
                try {
                  std::rethrow_exception(x);
                } catch (const st::Stop&) {
                  ++saw_stop;
                } catch (...) {
                }
                Control::protect([&] { Control::sleep(1ms); });
                ++cleaned;
                std::rethrow_exception(x);
              });
            }
            Control::block();
          });
        });
      } catch (...) {
        e = std::current_exception();
      }
      joined_after_cleanup = cleaned.load() == n;
      try {
        if (e) std::rethrow_exception(e);
      } catch (const st::Stop&) {
        parent_got_stop = true;
      } catch (...) {
      }
      done.finish();
    });
    while (blocked.load() < n) Fiber::yield();
    parent.cancel(st::stop());
    done.await();
    EXPECT_EQ(saw_stop.load(), n);
    EXPECT_TRUE(joined_after_cleanup.load());
    EXPECT_TRUE(parent_got_stop.load());  // the parent's reason, not Errors
  });
}

TEST(StructuredTest, JoinAfterOnACanceledFiberDoesNotRun) {
  picos::testing::run([] {
    Computation<void> c;
    c.cancel(st::stop());
    Computation<void> done;
    Fiber::spawn(Fiber::create(c), [done] {
      bool ran = false;
      EXPECT_THROW(Bundle::join_after([&](Bundle&) { ran = true; }), st::Stop);
      EXPECT_FALSE(ran);
      done.finish();
    });
    done.await();
  });
}

TEST(StructuredTest, NestedFlocksRestoreTheOuterFlock) {
  picos::testing::run([] {
    std::atomic<int> ran{0};
    Flock::join_after([&] {
      Bundle outer = Flock::current();
      Flock::join_after([&] { Flock::fork([&] { ++ran; }); });
      Flock::fork([&] { ++ran; });  // into the outer one again
      Flock::fork([&] {
        // Fibers of a flock see it as their flock.
        Flock::fork([&] { ++ran; });
      });
      outer.fork([&] { ++ran; });
    });
    EXPECT_EQ(ran.load(), 4);
  });
}

// ---- Control::terminate_after ------------------------------------------------------------

TEST(StructuredTest, TerminateAfterFiresOrNot) {
  picos::testing::run([] {
    // The deadline fires: the blocked operation raises Terminate.
    EXPECT_THROW(restoring([] { Control::terminate_after(10ms, [] { Control::sleep(200ms); }); }),
                 Terminate);
    // It does not: the value comes back and the timer is gone.
    int v = restoring([] {
      return Control::terminate_after(200ms, [] {
        Control::sleep(5ms);
        return 3;
      });
    });
    EXPECT_EQ(v, 3);
    Control::sleep(1ms);  // still alive: the removed timer did not cancel us
    // An exception from f passes through.
    EXPECT_THROW(Control::terminate_after(1s, [] { throw Boom(); }), Boom);
    EXPECT_THROW(Control::terminate_after(-1ms, [] {}), std::invalid_argument);
    // Nested: the inner, shorter deadline fires; the outer one is unaffected.
    bool inner_fired = false;
    Control::terminate_after(200ms, [&] {
      try {
        Control::terminate_after(5ms, [] { Control::block(); });
      } catch (const Terminate&) {
        inner_fired = true;
      }
    });
    EXPECT_TRUE(inner_fired);
    // A Ivar read with a timeout (the seed's read_in).
    sync::Ivar<int> iv;
    EXPECT_THROW(Control::terminate_after(5ms, [&] { return iv.read(); }), Terminate);
    iv.fill(9);
    EXPECT_EQ(Control::terminate_after(5ms, [&] { return iv.read(); }), 9);
  });
}

// ---- delays of any duration -----------------------------------------------------------
//
// A delay of another duration type too long for nanoseconds saturates to nanoseconds::max()
// and never fires (the implicit conversion used to overflow: seconds::max() arrived negative
// and was rejected); a negative one is still rejected, naming the std function.

constexpr auto kForever = std::chrono::seconds::max();
constexpr auto k300Years = std::chrono::hours(24 * 365 * 300);

// Expects `f()` to throw std::invalid_argument whose what() is `message`.
template <typename F>
void expect_invalid(F f, const std::string& message) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected: " << message;
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

TEST(StructuredTest, SleepSaturatesLongDelays) {
  picos::testing::run([] {
    // Accepted, and the sleep ends only by cancelation.
    EXPECT_THROW(Control::terminate_after(5ms, [] { Control::sleep(kForever); }), Terminate);
    EXPECT_THROW(Control::terminate_after(5ms, [] { Control::sleep(k300Years); }), Terminate);
    Control::sleep(1ms);
    expect_invalid([] { Control::sleep(-1s); },
                   "picos::structured::Control::sleep: delay must be non-negative "
                   "(got -1000000000 ns)");
    EXPECT_THROW(Control::sleep(-1ns), std::invalid_argument);
  });
}

TEST(StructuredTest, TerminateAfterSaturatesLongDelays) {
  picos::testing::run([] {
    for (int i = 0; i < 2; ++i) {
      int v = restoring([i] {
        auto f = [] {
          Control::sleep(5ms);
          return 3;
        };
        return i == 0 ? Control::terminate_after(kForever, f)
                      : Control::terminate_after(k300Years, f);
      });
      EXPECT_EQ(v, 3);
    }
    Control::sleep(1ms);  // still alive
    expect_invalid([] { Control::terminate_after(-1s, [] {}); },
                   "picos::structured::Control::terminate_after: delay must be non-negative "
                   "(got -1000000000 ns)");
    expect_invalid([] { Control::terminate_after(-5ns, [] {}); },
                   "picos::structured::Control::terminate_after: delay must be non-negative "
                   "(got -5 ns)");
  });
}

TEST(StructuredTest, DeadlineSaturatesLongDelays) {
  picos::testing::run([] {
    // True iff a Deadline of `delay` does not cancel a 5ms sleep.
    auto holds = [](auto delay) {
      return restoring([delay] {
        internal::Deadline deadline(delay);
        std::exception_ptr e;
        try {
          Control::sleep(5ms);
        } catch (...) {
          e = std::current_exception();
        }
        deadline.end(e);
        return e == nullptr;
      });
    };
    EXPECT_TRUE(holds(kForever));
    EXPECT_TRUE(holds(k300Years));
    EXPECT_TRUE(holds(std::chrono::nanoseconds::max()));
    expect_invalid([] { internal::Deadline deadline(-1s); },
                   "picos::structured::Control::terminate_after: delay must be non-negative "
                   "(got -1000000000 ns)");
    EXPECT_THROW(internal::Deadline(-1ns), std::invalid_argument);
  });
}

TEST(StructuredTest, ScopeTerminateAfterSaturatesLongDelays) {
  picos::testing::run([] {
    restoring([] {
      Bundle::join_after([](Bundle& b) {
        b.terminate_after(kForever);
        b.terminate_after(k300Years);
        b.fork([] { Control::sleep(5ms); });
        Control::sleep(5ms);
        EXPECT_TRUE(b.is_running());
        expect_invalid([&] { b.terminate_after(-1s); },
                       "picos::structured::Bundle::terminate_after: delay must be non-negative "
                       "(got -1000000000 ns)");
        EXPECT_THROW(b.terminate_after(-1ns), std::invalid_argument);
        EXPECT_TRUE(b.is_running());
      });
    });
    restoring([] {
      Flock::join_after([] {
        Flock::terminate_after(kForever);
        Flock::terminate_after(k300Years);
        Flock::fork([] { Control::sleep(5ms); });
        Control::sleep(5ms);
        EXPECT_TRUE(Flock::current().is_running());
        expect_invalid([] { Flock::terminate_after(-1s); },
                       "picos::structured::Flock::terminate_after: delay must be non-negative "
                       "(got -1000000000 ns)");
        EXPECT_THROW(Flock::terminate_after(-1ns), std::invalid_argument);
        EXPECT_TRUE(Flock::current().is_running());
      });
    });
  });
}

TEST(StructuredTest, PromiseTerminateAfterSaturatesLongDelays) {
  picos::testing::run([] {
    restoring([] {
      Bundle::join_after([](Bundle& b) {
        Promise<int> p = b.fork_as_promise(answer_after(5ms));
        p.terminate_after(kForever);
        p.terminate_after(k300Years);
        expect_invalid([&] { p.terminate_after(-1s); },
                       "picos::structured::Promise::terminate_after: delay must be non-negative "
                       "(got -1000000000 ns)");
        EXPECT_THROW(p.terminate_after(-1ns), std::invalid_argument);
        EXPECT_EQ(p.await(), 42);
      });
    });
  });
}

// ---- Run ---------------------------------------------------------------------------------

struct NotFound : std::runtime_error {
  NotFound() : std::runtime_error("NotFound") {}
};
struct Exit : std::runtime_error {
  Exit() : std::runtime_error("Exit") {}
};
struct DivisionByZero : std::runtime_error {
  DivisionByZero() : std::runtime_error("DivisionByZero") {}
};

std::set<std::string> reported_of(const std::exception_ptr& e) {
  std::set<std::string> out;
  try {
    std::rethrow_exception(e);
  } catch (const Errors& es) {
    for (const auto& x : es.errors()) {
      try {
        std::rethrow_exception(x);
      } catch (const std::exception& y) {
        out.insert(y.what());
      }
    }
  } catch (const Terminate&) {
    out.insert("Terminate");
  } catch (const std::exception& y) {
    out.insert(y.what());
  }
  return out;
}

TEST(StructuredTest, RunAnyAndAllErrors) {
  picos::testing::run([] {
    std::mt19937 rng(12345);
    const int rounds = st::threads_are_fibers() ? 4 : 20;
    for (int round = 0; round < rounds; ++round) {
      for (bool any : {false, true}) {
        std::mutex mu;
        std::set<std::string> raised;
        auto raise = [&](auto exn) {
          return [&, exn] {
            {
              std::lock_guard<std::mutex> g(mu);
              raised.insert(exn.what());
            }
            throw exn;
          };
        };
        std::vector<std::function<void()>> actions = {[] { throw Terminate(); }, raise(NotFound()),
                                                      [] { Control::block(); }, raise(Exit()),
                                                      raise(DivisionByZero())};
        std::shuffle(actions.begin(), actions.end(), rng);
        std::exception_ptr e;
        try {
          restoring([&] { any ? Run::any(actions) : Run::all(actions); });
        } catch (...) {
          e = std::current_exception();
        }
        ASSERT_TRUE(e) << "Run did not raise";
        std::set<std::string> reported = reported_of(e);
        EXPECT_EQ(reported.count("Terminate"), 0u);
        EXPECT_FALSE(raised.empty());
        for (const auto& r : raised) EXPECT_EQ(reported.count(r), 1u) << r << " not reported";
        for (const auto& r : reported)
          EXPECT_EQ(raised.count(r), 1u) << r << " reported, not raised";
      }
    }
  });
}

TEST(StructuredTest, RunAnyAndAllReturns) {
  picos::testing::run([] {
    std::mt19937 rng(777);
    for (int n_terminates = 0; n_terminates <= 2; ++n_terminates) {
      for (int n_incr = 0; n_incr <= 2; ++n_incr) {
        for (bool any : {false, true}) {
          std::atomic<int> counter{0};
          std::vector<std::function<void()>> actions;
          for (int i = 0; i < n_terminates; ++i) actions.push_back([] { throw Terminate(); });
          for (int i = 0; i < n_incr; ++i) actions.push_back([&] { ++counter; });
          std::shuffle(actions.begin(), actions.end(), rng);
          restoring([&] { any ? Run::any(actions) : Run::all(actions); });
          if (any) {
            EXPECT_GE(counter.load(), std::min(1, n_incr));
            EXPECT_LE(counter.load(), n_incr);
          } else {
            EXPECT_EQ(counter.load(), n_incr);
          }
        }
      }
    }
    // Variadic forms and first_or_terminate.
    int a = 0, b = 0;
    Run::all([&] { a = 1; }, [&] { b = 2; });
    EXPECT_EQ(a + b, 3);
    EXPECT_EQ(Run::first_or_terminate([]() -> int { Control::block(); }, [] { return 5; }), 5);
    EXPECT_THROW(Run::first_or_terminate([]() -> int { throw Terminate(); }), Terminate);
  });
}

// The winner is decided by the timers alone, so real time and randos' virtual clock agree.
TEST(StructuredTest, RaceAnyIsWonByTheShortestDeadline) {
  picos::testing::run([] {
    std::atomic<int> winner{0};
    auto claim = [&](int who) {
      int none = 0;
      winner.compare_exchange_strong(none, who);
    };
    restoring([&] {
      Run::any(
          [&] {
            try {
              Control::terminate_after(300ms, [] { Control::block(); });
            } catch (const Terminate&) {
            }
            claim(1);
          },
          [&] {
            Control::sleep(150ms);
            claim(2);
          },
          [&] {
            try {
              Control::terminate_after(10ms, [] { Control::block(); });
            } catch (const Terminate&) {
            }
            claim(3);
          });
    });
    EXPECT_EQ(winner.load(), 3);
    // The same race with first_or_terminate: values instead of a shared cell.
    int v = Run::first_or_terminate(
        [] {
          Control::sleep(150ms);
          return 1;
        },
        [] {
          Control::sleep(10ms);
          return 2;
        });
    EXPECT_EQ(v, 2);
  });
}

// ---- leaks -------------------------------------------------------------------------------

std::atomic<long> g_live{0};
struct Tracked {
  Tracked() { ++g_live; }
  Tracked(const Tracked&) { ++g_live; }
  ~Tracked() { --g_live; }
};
// Held in each child fiber's local storage: destroyed only when the fiber itself is.
const FlsKey<Tracked>& tracked_key() {
  static const FlsKey<Tracked> key;
  return key;
}

std::atomic<long> g_scopes{0};

// Counts the live copies of what random_tree's child functions capture (not their fibers'
// local storage, which nosched destroys a little after the join).
std::atomic<long> g_captured{0};
struct Captured {
  Captured() { ++g_captured; }
  Captured(const Captured&) { ++g_captured; }
  ~Captured() { --g_captured; }
};

// Waits (outside any scheduler) until the live count is `n`, for at most 5 s: with nosched a
// finished fiber is a thread whose storage is destroyed as the thread exits, a little after
// the join saw it finish. A real leak never settles.
bool settles_to(long n) {
  for (int i = 0; i < 5000 && g_live.load() != n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return g_live.load() == n;
}

void random_tree(int depth, unsigned seed) {
  std::minstd_rand rng(seed);
  // Children may block forever only in a scope that terminates them when its body returns.
  const bool daemons = rng() % 2;
  Flock::join_after(
      [&] {
        ++g_scopes;
        const int children = 1 + static_cast<int>(rng() % 3);
        for (int i = 0; i < children; ++i) {
          const unsigned s = static_cast<unsigned>(rng());
          auto body = [t = Tracked(), c = Captured(), depth, s, daemons] {
            tracked_key().set(Tracked());
            std::minstd_rand r(s);
            switch (r() % 8) {
              case 0:
                throw Boom();
              case 1:
                if (daemons) Control::block();
                break;
              case 2:
                Control::yield();
                break;
              case 3:
                Flock::terminate();
                break;
              default:
                break;
            }
            if (depth > 0) {
              try {
                random_tree(depth - 1, static_cast<unsigned>(r()));
              } catch (const Boom&) {
              } catch (const Errors&) {
              } catch (const Terminate&) {  // the body saw its scope terminated by a child
              }
            }
          };
          try {
            if (rng() % 2) {
              Flock::fork(std::move(body));
            } else {
              auto p = Flock::fork_as_promise(std::move(body));
              if (rng() % 4 == 0) p.terminate();
            }
          } catch (const Terminate&) {
            return;  // the flock was terminated meanwhile
          }
        }
        if (rng() % 3 == 0) Control::yield();
        if (rng() % 4 == 0) Flock::terminate();
      },
      daemons ? OnReturn::kTerminate : OnReturn::kWait);
}

TEST(StructuredTest, NoLeaksAfterThousandsOfNestedScopesWithRandomFailures) {
  const long before = g_live.load();
  picos::testing::run([] {
    const PackedComputation main = Fiber::current().get_computation();
    const int trees = st::threads_are_fibers() ? 20 : picos::testing::kSanitizer ? 100 : 800;
    for (int i = 0; i < trees; ++i) {
      try {
        restoring([&] { random_tree(3, static_cast<unsigned>(i)); });
      } catch (const Boom&) {
      } catch (const Errors&) {
      } catch (const Terminate&) {
      }
      // The captured functions are destroyed before a scope is told its child is done.
      EXPECT_EQ(g_captured.load(), 0) << "tree " << i;
    }
    // Cancelers were detached: the main computation's bag did not grow with the scopes.
    EXPECT_LT(main.bag_size_for_testing(), 64u);
  });
  // Every child fiber (and its local storage) is gone once the scheduler has returned.
  EXPECT_TRUE(settles_to(before)) << g_live.load() << " live objects, expected " << before;
  EXPECT_GE(g_scopes.load(), st::threads_are_fibers()     ? 20
                             : picos::testing::kSanitizer ? 100
                                                          : 800);
}

TEST(StructuredTest, CapturedStateIsReleasedBeforeTheJoinReturns) {
  ASSERT_TRUE(settles_to(0));
  picos::testing::run([] {
    const long before = g_live.load();
    Flock::join_after([] {
      for (int i = 0; i < 10; ++i) {
        Flock::fork([t = Tracked()] { Control::yield(); });
        (void)Flock::fork_as_promise([t = Tracked()] { return 1; });
      }
    });
    EXPECT_EQ(g_live.load(), before);
  });
}

}  // namespace
}  // namespace picos::structured
