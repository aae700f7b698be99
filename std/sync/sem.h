// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/sem.h — a slim, poisonable counting semaphore for fibers.
//
// `picos::sync::Sem` holds a count of permits in an Awaitable word. `acquire` takes one,
// suspending the fiber (not the OS thread) while there is none; `release` gives one back.
// Compared with picos::sync::Semaphore it is unfair and adds poisoning:
//
//  - Unfair: a fiber that arrives while a permit is available takes it even if others are
//    queued; `release` wakes the oldest waiter, which then competes for the permit again.
//  - Poisonable: `poison()` declares the guarded resource broken: every `acquire` and
//    `try_acquire`, current waiters included, throws Poisoned; `release` becomes a silent
//    no-op; `value()` is 0 and `is_poisoned()` true, forever. Anyone may poison.
//  - Bounds: the count is at most kMax (2^31 - 1, as POSIX's SEM_VALUE_MAX on Linux). A
//    negative or larger initial count throws std::invalid_argument; a `release` that would
//    exceed kMax throws std::overflow_error and changes nothing. At most 2^30 fibers may
//    wait on one Sem at a time.
//  - Destruction: a Sem may be destroyed as soon as nobody waits on it, even while the fiber
//    that released the last permit is still returning from `release` (it touches the Sem
//    last with the compare-and-swap that returns the permit). Poison is not a release:
//    destroy a poisoned Sem once `poison` has returned.
//
// Cancelation: `acquire` is a cancelation point only when it has to wait: a canceled waiter
// leaves the queue and throws the fiber's reason without a permit (a fiber that is already
// canceled still takes an available permit). A release whose wake-up raced with the
// cancelation is passed on to another waiter: a second waiter always gets the permit.
// `release` and `poison` are never cancelation points and never throw in a canceled fiber.
//
// Errors: Poisoned ("picos::sync::Sem::acquire: poisoned", "...::try_acquire: poisoned");
// std::invalid_argument (constructor); std::overflow_error (release).
//
// Cost: acquire and release are one CAS each when nobody waits. The word also counts the
// fibers in acquire's slow path, so the CAS that returns a permit tells the releaser whether
// to signal. A waiter suspends on the Awaitable (one trigger allocation). Size: one word.

#ifndef PICOS_STD_SYNC_SEM_H_
#define PICOS_STD_SYNC_SEM_H_

#include <cstdint>
#include <limits>

#include "std/awaitable/awaitable.h"
#include "std/sync/errors.h"

namespace picos::sync {

class Sem {
 public:
  static constexpr std::int64_t kMax = std::numeric_limits<std::int32_t>::max();

  // `initial` permits: 0 <= initial <= kMax, else std::invalid_argument.
  explicit Sem(std::int64_t initial = 0);
  Sem(const Sem&) = delete;
  Sem& operator=(const Sem&) = delete;
  // Destroying a Sem that fibers wait on is undefined.
  ~Sem() = default;

  // Takes one permit, suspending while there is none. Throws Poisoned (also if poisoned
  // while waiting) or the fiber's cancelation reason (without a permit). Any fiber.
  void acquire();

  // Takes one permit if one is available; never suspends, never checks cancelation. Throws
  // Poisoned.
  bool try_acquire();

  // Returns one permit and wakes a waiter if any. A silent no-op when poisoned;
  // std::overflow_error (nothing changes) if the count is kMax. Any fiber or thread; never a
  // cancelation point.
  void release();

  // Poisons the semaphore and wakes every waiter (they throw Poisoned). Idempotent; never
  // throws.
  void poison() noexcept;

  // The permits available now (0 when poisoned). Racy: for assertions and diagnostics.
  std::int64_t value() const noexcept;
  bool is_poisoned() const noexcept;

 private:
  // The word: bits 0-31 the permits, bit 32 poisoned, bits 33-62 the number of fibers in
  // acquire's slow path (who may sleep). Only one word, so that the CAS of a release is its
  // last access to the Sem (sem.cc).
  static constexpr std::int64_t kPermits = (std::int64_t{1} << 32) - 1;
  static constexpr std::int64_t kPoisoned = std::int64_t{1} << 32;
  static constexpr std::int64_t kWaiter = std::int64_t{1} << 33;

  void leave_slow_path() noexcept;

  awaitable::Awaitable word_;
};

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_SEM_H_
