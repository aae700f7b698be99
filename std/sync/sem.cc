// Copyright 2026 The Picos for C++ Authors.
//
// Lost wake-ups are ruled out by a Dekker-style pair of sequentially consistent accesses: a
// waiter increments `waiting_` and then reads the count; a releaser increments the count and
// then reads `waiting_`. One of them sees the other. A waiter sleeps only on a count of 0, and
// Awaitable::await re-reads the count after enqueueing; a releaser that saw waiters signals
// one, which is signalable as soon as the count is non-zero. A woken waiter that loses the
// permit to a barger sleeps again; one that is canceled as it is woken forwards the wake-up.

#include "std/sync/sem.h"

#include <stdexcept>
#include <string>

namespace picos::sync {

Sem::Sem(std::int64_t initial) : count_(initial) {
  if (initial < 0 || initial > kMax) {
    throw std::invalid_argument("picos::sync::Sem: invalid initial count " +
                                std::to_string(initial));
  }
}

bool Sem::try_acquire() {
  std::int64_t s = count_.load();
  for (;;) {
    if (s == kPoisoned) throw Poisoned("picos::sync::Sem::try_acquire: poisoned");
    if (s == 0) return false;
    if (count_.compare_exchange(s, s - 1)) return true;
  }
}

void Sem::acquire() {
  std::int64_t s = count_.load();
  while (s > 0) {
    if (count_.compare_exchange(s, s - 1)) return;
  }
  waiting_.fetch_add(1);
  struct Leave {
    std::atomic<std::int64_t>& waiting;
    ~Leave() { waiting.fetch_sub(1); }
  } leave{waiting_};
  for (;;) {
    s = count_.load();
    if (s == kPoisoned) throw Poisoned("picos::sync::Sem::acquire: poisoned");
    if (s > 0) {
      if (count_.compare_exchange(s, s - 1)) return;
      continue;
    }
    count_.await(0);  // cancelation point
  }
}

void Sem::release() {
  std::int64_t s = count_.load();
  for (;;) {
    if (s == kPoisoned) return;
    if (s == kMax) throw std::overflow_error("picos::sync::Sem::release: count would overflow");
    if (count_.compare_exchange(s, s + 1)) break;
  }
  if (waiting_.load() > 0) (void)count_.signal();
}

void Sem::poison() noexcept {
  if (count_.exchange(kPoisoned) != kPoisoned) (void)count_.broadcast();
}

std::int64_t Sem::value() const noexcept {
  const std::int64_t s = count_.load();
  return s == kPoisoned ? 0 : s;
}

bool Sem::is_poisoned() const noexcept { return count_.load() == kPoisoned; }

}  // namespace picos::sync
