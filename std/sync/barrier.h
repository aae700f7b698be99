// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/barrier.h — a cyclic, poisonable barrier for a fixed number of parties.
//
// `Barrier(n)` lets n fibers meet: each calls `arrive_and_wait()`, and the n-th arrival of a
// round releases everybody waiting in that round and starts the next one, so the same barrier
// serves any number of rounds. Like every //std/sync primitive it suspends fibers, never OS
// threads (on a thread without a scheduler the thread is one implicit fiber and blocks), and
// is written only against //picos.
//
// Behaviour:
//  - `arrive_and_wait` is a cancelation point. A party that is canceled (before the call or
//    while waiting) before its round completes cannot take part any more, so it *poisons* the
//    barrier and throws its own cancelation reason. If the round completed first (the last
//    arrival won the race), the call returns normally and the cancelation is left for the
//    fiber's next cancelation point. The last arrival of a round never suspends.
//  - Poisoned (by `poison()` or by a canceled party): every waiter of the current round and
//    every later arrival throws `picos::sync::Poisoned` (std/sync/errors.h). Poisoning is
//    permanent; `poison` on a poisoned barrier does nothing.
//  - `poison`, `is_poisoned`, `parties` and `arrived` never suspend, are not cancelation
//    points and never throw in a canceled fiber.
//  - More than `parties()` concurrent arrivals is not detected: the extra ones simply count
//    towards the next round.
//
// Any fiber or thread may call any operation; the barrier must outlive every call.
//
// Implementation: a spin-locked arrival count and, per round, a picos::Computation<void>
// "gate" that the last arrival finishes (or `poison` cancels with Poisoned); waiters await a
// trigger attached to the gate. Cost: an arrival is one short locked section; the last one of
// a round allocates the next round's gate; a waiter creates one trigger and suspends.

#ifndef PICOS_STD_SYNC_BARRIER_H_
#define PICOS_STD_SYNC_BARRIER_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "picos/computation.h"
#include "picos/internal/spin_lock.h"

namespace picos::sync {

class Barrier {
 public:
  // The largest number of parties accepted.
  static constexpr int kMaxParties = (1 << 30) - 1;

  // A barrier for `parties` fibers per round. Throws std::invalid_argument unless
  // 1 <= parties <= kMaxParties.
  explicit Barrier(int parties);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;
  // Destroying a barrier that fibers are waiting on is undefined.
  ~Barrier() = default;

  // Arrives at the barrier and suspends the current fiber until `parties()` fibers have
  // arrived in this round (the last arrival returns at once and releases the others).
  // Throws:
  //  - the fiber's cancelation reason if it is canceled before the call or while waiting,
  //    before the round completed; the barrier is then poisoned;
  //  - Poisoned if the barrier is (or becomes, while waiting) poisoned.
  void arrive_and_wait();

  // Poisons the barrier: wakes every waiter of the current round with Poisoned, and every
  // later `arrive_and_wait` throws Poisoned. Idempotent; not a cancelation point.
  void poison();

  bool is_poisoned() const noexcept { return poisoned_.load(std::memory_order_acquire); }

  int parties() const noexcept { return parties_; }

  // Parties that have arrived in the current round (racy: for diagnostics and tests).
  int arrived() const noexcept;

 private:
  // Marks the barrier poisoned (lock_ held); returns true and the gate to open with
  // `open_poisoned` (after unlocking) if this call poisoned it.
  bool poison_locked(Computation<void>& gate) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  static void open_poisoned(const Computation<void>& gate);

  const int parties_;
  mutable internal::SpinLock lock_;
  int arrived_ ABSL_GUARDED_BY(lock_) = 0;
  std::uint64_t round_ ABSL_GUARDED_BY(lock_) = 0;  // incremented when a round completes
  Computation<void> gate_ ABSL_GUARDED_BY(lock_);   // the current round's gate
  std::atomic<bool> poisoned_{false};               // written under lock_
};

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_BARRIER_H_
