// Copyright 2026 The Picos for C++ Authors.
//
// An exception raised by a child fiber and read by its parent after the join, on every
// scheduler of the conformance matrix, many times over. Written for `--config=tsan`: the
// parent reads the exception, then drops its copy, while the child's thread may still be
// letting go of the finished fiber (and of the computation holding the exception). A user of
// the library must get a clean TSan run from this ordinary code. Without a
// sanitizer it is a plain functional test.

#include <atomic>
#include <exception>
#include <stdexcept>
#include <string>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/structured/structured.h"

namespace picos::structured {
namespace {

// A user exception with state of its own, written by the child and read by the parent: the
// accesses TSan checks against the exception's release, wherever that happens.
struct Boom : std::exception {
  explicit Boom(int v) : value(v), text("Boom " + std::to_string(v)) {}
  const char* what() const noexcept override { return text.c_str(); }
  int value;
  std::string text;
};

// Under TSan every fiber costs a fraction of a millisecond, and on thread and nosched every
// fiber is an OS thread; a few hundred rounds still give the interleaving many chances.
int rounds() {
  if (picos::testing::kThreadSanitizer) return 300;
  return picos::testing::capabilities().fibers_are_threads ? 500 : 2000;
}

[[noreturn]] void boom(int i) { throw Boom(i); }

TEST(ExceptionJoinTest, ComputationAwaitRethrowsTheChildsException) {
  picos::testing::run([] {
    for (int i = 0, n = rounds(); i < n; ++i) {
      int seen = -1;
      {
        Computation<int> c;
        Fiber::spawn(Fiber::create(c), [c, i] { c.capture([i]() -> int { boom(i); }); });
        try {
          (void)c.await();
        } catch (const Boom& e) {
          seen = e.value;
          EXPECT_EQ(e.text, "Boom " + std::to_string(i));
        }
      }  // the parent's handle, and with it maybe the exception, goes here
      ASSERT_EQ(seen, i);
    }
  });
}

TEST(ExceptionJoinTest, CanceledReasonCopiedOutOutlivesTheComputation) {
  picos::testing::run([] {
    for (int i = 0, n = rounds(); i < n; ++i) {
      std::exception_ptr e;
      {
        Computation<void> c;
        Fiber::spawn(Fiber::create(c), [c, i] { c.capture([i] { boom(i); }); });
        c.wait();
        e = c.canceled();
      }
      ASSERT_TRUE(e);
      try {
        std::rethrow_exception(e);
      } catch (const Boom& b) {
        EXPECT_EQ(b.value, i);
      }
      e = nullptr;  // the last reference, on the parent's thread
    }
  });
}

TEST(ExceptionJoinTest, PromiseAwaitRethrowsTheChildsException) {
  picos::testing::run([] {
    for (int i = 0, n = rounds(); i < n; ++i) {
      int seen = -1;
      try {
        Flock::join_after([&] {
          auto p = Flock::fork_as_promise([i]() -> int { boom(i); });
          try {
            (void)p.await();
          } catch (const Boom& e) {
            seen = e.value;
          } catch (const Terminate&) {
            // The child's error terminated the scope, and so this await, first.
          }
        });
      } catch (const Boom& e) {  // the scope re-raises the child's error after the join
        EXPECT_EQ(e.value, i);
        EXPECT_EQ(e.text, "Boom " + std::to_string(i));
        if (seen == -1) seen = e.value;
      }
      ASSERT_EQ(seen, i);
    }
  });
}

TEST(ExceptionJoinTest, FlockJoinRethrowsTheForkedChildsException) {
  picos::testing::run([] {
    for (int i = 0, n = rounds(); i < n; ++i) {
      int seen = -1;
      try {
        Flock::join_after([&] { Flock::fork([i] { boom(i); }); });
      } catch (const Boom& e) {
        seen = e.value;
        EXPECT_EQ(e.text, "Boom " + std::to_string(i));
      }
      ASSERT_EQ(seen, i);
    }
  });
}

}  // namespace
}  // namespace picos::structured
