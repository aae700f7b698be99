// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/sync_testing.h — small helpers the std/sync conformance tests share (test-only).

#ifndef PICOS_STD_SYNC_SYNC_TESTING_H_
#define PICOS_STD_SYNC_SYNC_TESTING_H_

#include <atomic>
#include <exception>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include "mux/testing/testing.h"
#include "picos/picos.h"

namespace picos::sync::testing {

// A cancelation reason / test exception that no library code throws.
struct Stop : std::runtime_error {
  Stop() : std::runtime_error("Stop") {}
};

// A Stop as a cancelation reason: `c.cancel(stop())`.
inline std::exception_ptr stop() { return std::make_exception_ptr(Stop()); }

// True on configurations where every fiber is an OS thread (thread, nosched): keep counts small.
inline bool threads_are_fibers() { return picos::testing::capabilities().fibers_are_threads; }

// `n` fibers, scaled down where fibers are OS threads (20) or under a sanitizer (200).
inline int fibers(int n) {
  if (threads_are_fibers()) return n < 20 ? n : 20;
  return picos::testing::kSanitizer ? (n < 200 ? n : 200) : n;
}

// Spawns `fn` in a fiber with its own computation; returns it (completed when fn returns or
// throws; `await()` rethrows).
template <typename F>
Computation<void> fork(F fn) {
  Computation<void> c;
  Fiber::spawn(Fiber::create(c), [c, fn = std::move(fn)]() mutable { c.capture(fn); });
  return c;
}

// A fiber with its own computation `c` (cancel it to cancel the fiber); `done` completes
// when the body has ended, however it ended (`c` completes early when canceled).
struct Victim {
  Computation<void> c;
  Computation<void> done;
};

template <typename F>
Victim spawn_victim(F fn) {
  Victim v;
  Fiber::spawn(Fiber::create(v.c), [c = v.c, done = v.done, fn]() mutable {
    c.capture(fn);
    done.finish();
  });
  return v;
}

// A victim fiber that calls the blocking `op`; returns once the victim is about to call it.
template <typename F>
Victim start_blocking(F op) {
  auto calling = std::make_shared<std::atomic<bool>>(false);
  Victim v = spawn_victim([calling, op] {
    *calling = true;
    op();
  });
  while (!calling->load()) Fiber::yield();
  return v;
}

// Runs `handoff` many times in one picos::testing::run: each round makes a primitive on the
// heap, hands it over to a fiber that frees it right after the hand-off, and waits for that
// fiber. Run under ASan, a waker that touches the primitive after its hand-off is reported
// (the primitive may be destroyed by the fiber it was handed to: sync.md).
template <typename Handoff>
void destroy_after_handoffs(Handoff handoff) {
  picos::testing::run([&] {
    for (int round = 0; round < (threads_are_fibers() ? 50 : 300); ++round) handoff();
  });
}

// Waits (without rethrowing) until every computation has completed.
inline void await_all(std::vector<Computation<void>>& cs) {
  for (auto& c : cs) c.wait();
}

}  // namespace picos::sync::testing

#endif  // PICOS_STD_SYNC_SYNC_TESTING_H_
