// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/latch.h — a single-use countdown latch.
//
// Behaviour:
//  - `Latch(n)` starts at n (n < 0 throws std::invalid_argument); `count_down(k)` subtracts k
//    and releases every waiter when the count reaches zero. Counting below zero throws
//    std::logic_error and changes nothing; a negative k throws std::invalid_argument.
//    `count_down` never suspends, is not a cancelation point and is safe in a canceled fiber.
//  - `wait` suspends the fiber until the count is zero; it is a cancelation point (throws the
//    fiber's reason). `try_wait` never suspends.
//  - Models the shape of std::latch (count_down, try_wait, wait, arrive_and_wait).
//  - May be destroyed as soon as it is open and nobody waits on it, even while the last
//    count_down is still returning.

#ifndef PICOS_STD_SYNC_LATCH_H_
#define PICOS_STD_SYNC_LATCH_H_

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "picos/computation.h"

namespace picos::sync {

class Latch {
 public:
  explicit Latch(std::int64_t count) : count_(count) {
    if (count < 0) {
      throw std::invalid_argument("picos::sync::Latch: negative count " + std::to_string(count));
    }
    if (count == 0) done_.finish();
  }
  Latch(const Latch&) = delete;
  Latch& operator=(const Latch&) = delete;

  void count_down(std::int64_t k = 1) {
    if (k < 0) throw std::invalid_argument("picos::sync::Latch::count_down: negative k");
    std::int64_t c = count_.load(std::memory_order_relaxed);
    do {
      if (k > c)
        throw std::logic_error("picos::sync::Latch::count_down: count would go below zero");
    } while (!count_.compare_exchange_weak(c, c - k, std::memory_order_acq_rel,
                                           std::memory_order_relaxed));
    if (c - k == 0 && k > 0) {
      // Through a reference of our own: a fiber that sees the latch open (try_wait) may
      // destroy it, with done_, while finish still unlocks the computation.
      Computation<void> done = done_;
      done.finish();
    }
  }

  bool try_wait() const noexcept { return !done_.is_running(); }
  void wait() const { done_.wait(); }
  void arrive_and_wait(std::int64_t k = 1) {
    count_down(k);
    wait();
  }

  // Finished when the count reaches zero (e.g. to attach triggers, or as an event with
  // picos::event::wait_evt). Never cancel it: that would release the waiters early.
  const Computation<void>& computation() const noexcept { return done_; }

  // The current count (racy: for diagnostics and tests).
  std::int64_t value() const noexcept { return count_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> count_;
  Computation<void> done_;
};

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_LATCH_H_
