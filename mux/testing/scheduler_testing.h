// Copyright 2026 The Picos for C++ Authors.
//
// mux/testing/scheduler_testing.h — small helpers that the schedulers' own tests share
// (mux/scheduler_test.cc, mux/cross_scheduler_test.cc, and each scheduler's *_test.cc):
// the exceptions they throw and cancel with, a detached spawn, and one side of a trigger
// hand-off between two runs on two threads. Test-only; it asserts with gtest.

#ifndef PICOS_MUX_TESTING_SCHEDULER_TESTING_H_
#define PICOS_MUX_TESTING_SCHEDULER_TESTING_H_

#include <atomic>
#include <stdexcept>
#include <thread>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "gtest/gtest.h"
#include "picos/picos.h"

namespace picos::testing {

// What a test throws as a fiber's fatal error.
struct Fatal : std::runtime_error {
  Fatal() : std::runtime_error("fatal") {}
};

// What a test cancels a long-running fiber with, to end it.
struct Exit : std::runtime_error {
  Exit() : std::runtime_error("Exit") {}
};

// Spawns a fiber that runs `main`, with a computation no one awaits.
inline void spawn(absl::AnyInvocable<void()> main) {
  Fiber::spawn(Fiber::create(PackedComputation()), std::move(main));
}

// One side of a hand-off between two fibers (usually on two schedulers' threads), `rounds`
// times: publishes a fresh trigger in `mine`, signals the trigger the peer published in `peer`,
// and awaits its own, expecting no cancelation. Symmetric, so neither side gets ahead by more
// than one hand-off. The caller deletes what is left in the two slots once both sides are done.
inline void hand_off_side(std::atomic<Trigger*>& mine, std::atomic<Trigger*>& peer, int rounds,
                          std::atomic<int>* done = nullptr) {
  for (int i = 0; i < rounds; ++i) {
    Trigger t;
    mine.store(new Trigger(t));
    Trigger* other = nullptr;
    // Only round 0 can find the peer's slot empty: each side publishes its trigger before it
    // signals the other's.
    while ((other = peer.exchange(nullptr)) == nullptr) std::this_thread::yield();
    other->signal();
    delete other;
    EXPECT_EQ(t.await(), nullptr);
    if (done != nullptr) ++*done;
  }
}

}  // namespace picos::testing

#endif  // PICOS_MUX_TESTING_SCHEDULER_TESTING_H_
