// Copyright 2026 The Picos for C++ Authors.
//
// The Rwlock word:
//   kWriter    an exclusive hold exists
//   kWaiters   fibers may be waiting: the release that frees the lock must broadcast
//   kPoisoned  poisoned (kept with kWriter forever)
//   kFrozen    frozen (counts as a permanent shared hold)
//   the rest   the number of shared holds, in units of kReader
// A fiber sleeps only on a word with kWaiters set; kWaiters is cleared only by a release that
// frees the lock for its kind (exclusive release, or the last shared release), which then
// broadcasts, so everybody who slept re-examines the word; losers set kWaiters again.
// Writers pass the `writers_` gate (a Lock) first, so at most one writer sleeps on the word.

#include "std/sync/rwlock.h"

#include <stdexcept>

namespace picos::sync {
namespace {

constexpr std::int64_t kWriter = 1;
constexpr std::int64_t kWaiters = 2;
constexpr std::int64_t kPoisoned = 4;
constexpr std::int64_t kFrozen = 8;
constexpr std::int64_t kReader = 16;

constexpr std::int64_t readers(std::int64_t s) { return s / kReader; }

}  // namespace

// Writers first queue on `writers_`, a Lock that wakes one waiter per release, so only one
// writer at a time waits on the state word: a release wakes at most one writer (and every
// waiting reader, who can all proceed), never the whole queue of writers.
void Rwlock::acquire() {
  (void)enter_writers(/*wait=*/true);  // throws (Poisoned, cancelation) or enters
  std::int64_t s = 0;
  if (state_.compare_exchange(s, kWriter)) return;
  try {
    for (;;) {
      if (s & kPoisoned) throw Poisoned("picos::sync::Rwlock::acquire: poisoned");
      if (s & kFrozen) throw Frozen("picos::sync::Rwlock::acquire: frozen");
      if (!(s & kWriter) && readers(s) == 0) {
        if (state_.compare_exchange(s, s | kWriter)) return;
        continue;
      }
      wait_for_change(s);  // cancelation point
    }
  } catch (...) {
    writers_.release();  // a no-op if poisoned
    throw;
  }
}

// The slow path of acquire and acquire_shared, on a word `s` that does not admit the caller:
// sets kWaiters (unless set) and sleeps until the word changes. Either way `s` is then the
// word to examine again (also when setting kWaiters lost a race and nothing slept).
void Rwlock::wait_for_change(std::int64_t& s) {
  if (!(s & kWaiters)) {
    if (!state_.compare_exchange(s, s | kWaiters)) return;
    s |= kWaiters;
  }
  state_.await(s);  // cancelation point
  s = state_.load();
}

// Takes the writers' gate; false only if `wait` is false and another writer has it.
bool Rwlock::enter_writers(bool wait) {
  try {
    if (wait) {
      writers_.acquire();  // cancelation point
      return true;
    }
    return writers_.try_acquire();
  } catch (const Poisoned&) {
    throw Poisoned(wait ? "picos::sync::Rwlock::acquire: poisoned"
                        : "picos::sync::Rwlock::try_acquire: poisoned");
  }
}

bool Rwlock::try_acquire() {
  std::int64_t s = state_.load();
  if (s & kPoisoned) throw Poisoned("picos::sync::Rwlock::try_acquire: poisoned");
  if (s & kFrozen) throw Frozen("picos::sync::Rwlock::try_acquire: frozen");
  if ((s & kWriter) || readers(s) != 0) return false;
  if (!enter_writers(/*wait=*/false)) return false;
  s = state_.load();
  for (;;) {
    if ((s & (kPoisoned | kFrozen | kWriter)) || readers(s) != 0) {
      writers_.release();
      if (s & kFrozen) throw Frozen("picos::sync::Rwlock::try_acquire: frozen");
      return false;
    }
    if (state_.compare_exchange(s, s | kWriter)) return true;
  }
}

// The gate first, the word last: once kWriter is off, a fiber may take the lock, release it
// and free the Rwlock (nobody waits), so nothing but the broadcast may follow the CAS that
// frees it (Awaitable::broadcast touches the word only when it finds a sleeper, who keeps the
// Rwlock alive). Until then we hold the word, which keeps it alive. A writer let through the
// gate early finds kWriter set and sleeps on the word until the broadcast.
void Rwlock::release() {
  std::int64_t s = state_.load();
  if (s & kPoisoned) return;
  if (!(s & kWriter)) throw std::logic_error("picos::sync::Rwlock::release: not write locked");
  writers_.release();  // we hold it: a no-op only if poisoned, which only the holder does
  while (!state_.compare_exchange(s, s & ~(kWriter | kWaiters))) {
  }
  if (s & kWaiters) (void)state_.broadcast();  // readers, and the writer let through the gate
}

void Rwlock::poison() {
  std::int64_t s = state_.load();
  for (;;) {
    if (s & kPoisoned) return;
    if (!(s & kWriter)) throw std::logic_error("picos::sync::Rwlock::poison: not write locked");
    if (state_.compare_exchange(s, s | kPoisoned)) break;
  }
  // Readers asleep on the word keep the Rwlock alive while the gate is poisoned: wake them
  // last (rwlock.h: a poisoned Rwlock may be destroyed once poison has returned).
  writers_.poison();  // held by us, the writer: queued writers throw Poisoned
  (void)state_.broadcast();
}

void Rwlock::poison_on_exception() noexcept {
  state_.fetch_or(kPoisoned | kWriter);
  try {
    writers_.poison();
  } catch (const std::logic_error&) {
    // `f` released the lock itself before throwing: nobody holds the gate to poison.
  }
  (void)state_.broadcast();  // last, as in poison()
}

void Rwlock::acquire_shared() {
  // Load first: with other readers in, a CAS from an assumed 0 fails, and a failed CAS is
  // still a locked instruction. The loop's CAS from the word as loaded takes it at once.
  std::int64_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (s & kPoisoned) throw Poisoned("picos::sync::Rwlock::acquire_shared: poisoned");
    if (!(s & kWriter)) {
      if (state_.compare_exchange(s, s + kReader)) return;
      continue;
    }
    wait_for_change(s);  // cancelation point
  }
}

bool Rwlock::try_acquire_shared() {
  std::int64_t s = state_.load();
  for (;;) {
    if (s & kPoisoned) throw Poisoned("picos::sync::Rwlock::try_acquire_shared: poisoned");
    if (s & kWriter) return false;
    if (state_.compare_exchange(s, s + kReader)) return true;
  }
}

void Rwlock::release_shared() {
  std::int64_t s = state_.load();
  bool wake;
  for (;;) {
    if (s & kPoisoned) return;
    if (readers(s) == 0) {
      throw std::logic_error("picos::sync::Rwlock::release_shared: not read locked");
    }
    std::int64_t next = s - kReader;
    wake = readers(next) == 0 && (next & kWaiters);
    if (wake) next &= ~kWaiters;
    if (state_.compare_exchange(s, next)) break;
  }
  if (wake) (void)state_.broadcast();
}

void Rwlock::freeze() {
  std::int64_t s = state_.load();
  for (;;) {
    if (s & kPoisoned) throw Poisoned("picos::sync::Rwlock::freeze: poisoned");
    if (s & kFrozen) return;
    if (s & kWriter) throw std::logic_error("picos::sync::Rwlock::freeze: write locked");
    if (state_.compare_exchange(s, (s | kFrozen) & ~kWaiters)) break;
  }
  if (s & kWaiters) (void)state_.broadcast();  // waiting writers: they throw Frozen now
}

bool Rwlock::is_locked() const noexcept { return (state_.load() & (kWriter | kPoisoned)) != 0; }

bool Rwlock::is_locked_shared() const noexcept {
  const std::int64_t s = state_.load();
  return !(s & kPoisoned) && ((s & kFrozen) || readers(s) != 0);
}

bool Rwlock::is_frozen() const noexcept { return (state_.load() & kFrozen) != 0; }

bool Rwlock::is_poisoned() const noexcept { return (state_.load() & kPoisoned) != 0; }

void RwlockCondition::wait(Rwlock& lock) {
  const std::int64_t s = lock.state_.load();
  if (s & kPoisoned) throw Poisoned("picos::sync::Rwlock::Condition::wait: poisoned");
  if (!(s & kWriter)) {
    throw std::logic_error("picos::sync::Rwlock::Condition::wait: not write locked");
  }
  wait_on(lock);
}

void RwlockCondition::wait_shared(Rwlock& lock) {
  const std::int64_t s = lock.state_.load();
  if (s & kPoisoned) throw Poisoned("picos::sync::Rwlock::Condition::wait_shared: poisoned");
  if (readers(s) == 0) {
    throw std::logic_error("picos::sync::Rwlock::Condition::wait_shared: not read locked");
  }
  wait_on</*kShared=*/true>(lock);
}

}  // namespace picos::sync
