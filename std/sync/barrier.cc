// Copyright 2026 The Picos for C++ Authors.

#include "std/sync/barrier.h"

#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "picos/debug.h"
#include "picos/fiber.h"
#include "picos/trigger.h"
#include "std/sync/errors.h"

namespace picos::sync {

namespace {

[[noreturn]] void throw_poisoned() {
  throw Poisoned("picos::sync::Barrier::arrive_and_wait: the barrier is poisoned");
}

}  // namespace

Barrier::Barrier(int parties) : parties_(parties) {
  if (parties < 1 || parties > kMaxParties) {
    throw std::invalid_argument("picos::sync::Barrier: invalid number of parties " +
                                std::to_string(parties));
  }
}

int Barrier::arrived() const noexcept {
  internal::SpinLockGuard guard(lock_);
  return arrived_;
}

bool Barrier::poison_locked(Computation<void>& gate) noexcept {
  if (poisoned_.load(std::memory_order_relaxed)) return false;
  poisoned_.store(true, std::memory_order_release);
  gate = gate_;
  return true;
}

void Barrier::open_poisoned(const Computation<void>& gate) {
  // Outside the lock: signaling runs the waiters' resume actions. Nobody else completes this
  // gate any more (the round can no longer fill up), so the cancel always takes effect.
  gate.cancel(std::make_exception_ptr(
      Poisoned("picos::sync::Barrier::arrive_and_wait: the barrier was poisoned")));
}

void Barrier::poison() {
  Computation<void> gate;
  bool now;
  {
    internal::SpinLockGuard guard(lock_);
    now = poison_locked(gate);
  }
  if (now) open_poisoned(gate);
}

void Barrier::arrive_and_wait() {
  // A canceled party cannot take part: it never counts as arrived.
  if (std::exception_ptr reason = Fiber::current().canceled()) {
    poison();
    std::rethrow_exception(reason);
  }
  Computation<void> gate;
  std::uint64_t round;
  {
    internal::SpinLockGuard guard(lock_);
    if (poisoned_.load(std::memory_order_relaxed)) {
      guard.unlock();
      throw_poisoned();
    }
    if (++arrived_ == parties_) {
      // The last arrival: start the next round and open this one's gate.
      arrived_ = 0;
      ++round_;
      gate = std::exchange(gate_, Computation<void>());
      guard.unlock();
      gate.finish();
      return;
    }
    gate = gate_;
    round = round_;
  }
  Trigger t;
  std::exception_ptr reason;
  if (gate.try_attach(t)) {
    static constexpr debug::WaitKind kAwait{"picos::sync::Barrier", "await"};
    t.set_wait_label(kAwait, this);
    reason = t.await();
  }
  if (reason) {
    gate.detach(t);
    Computation<void> to_open;
    bool now;
    {
      // Decide and poison in one locked section, so that the round cannot complete between.
      internal::SpinLockGuard guard(lock_);
      // Our round completed before we noticed the cancelation: we did pass the barrier.
      if (round_ != round) return;
      now = poison_locked(to_open);
    }
    if (now) open_poisoned(to_open);
    std::rethrow_exception(reason);
  }
  if (gate.is_canceled()) throw_poisoned();
}

}  // namespace picos::sync
