// Copyright 2026 The Picos for C++ Authors.
//
// One word (sem.h): permits, a poisoned bit, and the number of fibers in acquire's slow path.
// A waiter registers (adds kWaiter) before it reads the permits, and sleeps only on the word
// it read, which a release changes; a releaser adds its permit by a CAS that also returns the
// number of registered waiters, and signals if there is one. Both touch the one word, so one
// sees the other: no lost wake-up. Awaitable::await re-reads the word after enqueueing, so a
// release between the read and the sleep is seen too. A waiter takes its permit and
// deregisters in one CAS.
//
// Why one word: with the waiter count in a second word, a releaser read it after its CAS. A
// waiter in the slow path could take that permit in between, return and destroy the Sem (it
// may: nobody waits), and the releaser read freed memory. Now the CAS is the release's last
// access but for `signal`, which touches the word only once it finds a sleeper that keeps
// the Sem alive.
//
// A woken waiter that loses the permit to a barger sleeps again; one that is canceled as it
// is woken forwards the wake-up (Awaitable::await).

#include "std/sync/sem.h"

#include <stdexcept>
#include <string>

namespace picos::sync {

Sem::Sem(std::int64_t initial) : word_(initial) {
  if (initial < 0 || initial > kMax) {
    throw std::invalid_argument("picos::sync::Sem: invalid initial count " +
                                std::to_string(initial));
  }
}

bool Sem::try_acquire() {
  std::int64_t s = word_.load();
  for (;;) {
    if (s & kPoisoned) throw Poisoned("picos::sync::Sem::try_acquire: poisoned");
    if ((s & kPermits) == 0) return false;
    if (word_.compare_exchange(s, s - 1)) return true;
  }
}

void Sem::leave_slow_path() noexcept { word_.fetch_sub(kWaiter); }

void Sem::acquire() {
  std::int64_t s = word_.load();
  while ((s & kPermits) != 0 && !(s & kPoisoned)) {
    if (word_.compare_exchange(s, s - 1)) return;
  }
  s = word_.fetch_add(kWaiter) + kWaiter;
  for (;;) {
    if (s & kPoisoned) {
      leave_slow_path();
      throw Poisoned("picos::sync::Sem::acquire: poisoned");
    }
    if ((s & kPermits) != 0) {
      if (word_.compare_exchange(s, s - 1 - kWaiter)) return;  // permit taken, deregistered
      continue;
    }
    try {
      word_.await(s);  // cancelation point
    } catch (...) {
      leave_slow_path();
      throw;
    }
    s = word_.load();
  }
}

void Sem::release() {
  std::int64_t s = word_.load();
  for (;;) {
    if (s & kPoisoned) return;
    if ((s & kPermits) == kMax) {
      throw std::overflow_error("picos::sync::Sem::release: count would overflow");
    }
    if (word_.compare_exchange(s, s + 1)) break;
  }
  if (s >= kWaiter) (void)word_.signal();  // s: the word before the CAS
}

void Sem::poison() noexcept {
  if (!(word_.fetch_or(kPoisoned) & kPoisoned)) (void)word_.broadcast();
}

std::int64_t Sem::value() const noexcept {
  const std::int64_t s = word_.load();
  return (s & kPoisoned) ? 0 : (s & kPermits);
}

bool Sem::is_poisoned() const noexcept { return (word_.load() & kPoisoned) != 0; }

}  // namespace picos::sync
