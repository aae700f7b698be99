// Copyright 2026 The Picos for C++ Authors.
//
// mux/context/testing.h — test helpers for the stack pool and its depot (testonly): contexts
// that hold stacks at once, on the calling thread or on a thread of their own, and the small
// depot capacities the burst tests use. For //mux/context's own tests and the schedulers'.

#ifndef PICOS_MUX_CONTEXT_TESTING_H_
#define PICOS_MUX_CONTEXT_TESTING_H_

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "mux/context/context.h"
#include "mux/context/stack.h"

namespace picos::mux::context::testing {

// `n` contexts alive at once (each suspended, holding its stack), then finished.
inline void hold_and_finish(std::size_t n) {
  std::vector<std::unique_ptr<Context>> contexts;
  Context* self = nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    contexts.push_back(std::make_unique<Context>(
        [](void* arg) noexcept { (*static_cast<Context**>(arg))->suspend(); }, &self));
    self = contexts.back().get();
    ASSERT_FALSE(self->resume());
  }
  for (auto& c : contexts) ASSERT_TRUE(c->resume());
}

// hold_and_finish(n) on a thread of its own: its pool takes from the depot, and its exit
// gives every stack back there (n must stay below a thread's cache limit).
inline void burst_on_a_thread(std::size_t n) {
  std::thread t([n] { hold_and_finish(n); });
  t.join();
}

// A steady capacity of 16 stacks and a burst capacity of 400 (instead of 131,072 and 2^20),
// with `hold`; for set_depot_limits_for_testing.
inline DepotLimits small_depot(std::chrono::nanoseconds hold) {
  constexpr std::size_t kBytes = std::size_t{1} << 40;  // never the limit here
  return DepotLimits{16, kBytes, 400, kBytes, hold};
}

}  // namespace picos::mux::context::testing

#endif  // PICOS_MUX_CONTEXT_TESTING_H_
