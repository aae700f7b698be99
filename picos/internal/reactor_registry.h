// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/reactor_registry.h — which reactors hold state for which descriptor, so that
// io::close (io::forget) reaches every reactor a waiter may be blocked in, from any thread.
//
// A reactor (picos/reactor.h) that can hold interests owns a `ReactorRegistration`: it
// `enroll`s before its first interest, `note`s each descriptor in `add` (before the interest
// becomes visible to its own `forget`), and `withdraw`s before it goes away.
// `forget_everywhere(fd)` (what io::forget and io::close call) then calls `forget(fd)` on
// every enrolled reactor that noted `fd` since the last forget_everywhere(fd) — and only
// those — from whatever thread closes. So every reactor's forget must be callable from any
// thread, concurrently with its owner's loop (picos/reactor.h).
//
// The record: a process-wide table indexed by descriptor, allocated lazily in chunks of
// 4,096 descriptors (32 KiB each; descriptors up to 2^24), of 64-bit masks of reactor slots.
// 63 slots are handed out at enrollment; any further reactors share the 64th ("overflow"),
// whose bit makes forget_everywhere call all of them. Costs: note is a load of the fd's
// mask and, the first time this reactor waits on the descriptor, an atomic or — constant,
// no lock; forget_everywhere is an atomic exchange, then, for each slot named, that slot's
// mutex and the reactor's forget. A descriptor at or above 2^24 is not recorded: closing one
// calls forget on every enrolled reactor.
//
// Races, and why they are harmless:
//  - A wait that starts on `fd` while another thread closes it is the caller's race, as
//    with POSIX: its note may come after the closer's exchange, and the wait may then miss
//    the close. Waits that started before the close began are always reached: the reactor
//    notes under the lock its forget takes, so a forget that saw the bit also sees the
//    interest.
//  - note skips the atomic or when it sees its bit already set. It can see a bit that a
//    concurrent forget_everywhere is clearing: that forget then finds the new interest under
//    the reactor's lock and completes it (kClosed), which is right, the fd being closed.
//  - A reactor withdraws with its bits still set in the table; a later reactor given the
//    same slot may receive forget(fd) for descriptors it never waited on. forget on a
//    descriptor with no interests is a no-op, so that is only a spurious call.
//  - withdraw takes the slot's mutex, which forget_everywhere holds while it calls the
//    reactor: once withdraw returns no call is in progress and none will start, so the
//    reactor may be destroyed. Hence withdraw must never run inside such a call — not in a
//    trigger's resume action run by the reactor's forget, e.g. through the release of the
//    last reference to a scheduler that a resume action holds (multififo's push_foreign):
//    withdraw when the scheduler's loop ends, not in a destructor a resume action may run.

#ifndef PICOS_INTERNAL_REACTOR_REGISTRY_H_
#define PICOS_INTERNAL_REACTOR_REGISTRY_H_

#include <atomic>

#include "picos/reactor.h"

namespace picos::internal {

class ReactorRegistration {
 public:
  ReactorRegistration() noexcept = default;
  // Withdraws if still enrolled (see withdraw() for when that is too late).
  ~ReactorRegistration() { withdraw(); }
  ReactorRegistration(const ReactorRegistration&) = delete;
  ReactorRegistration& operator=(const ReactorRegistration&) = delete;

  // Enters `reactor` in the registry; a no-op when already enrolled. Any thread, concurrent
  // calls allowed; call it outside the reactor's own locks (forget_everywhere takes a slot's
  // mutex, then the reactor's). Throws std::bad_alloc if the overflow list cannot grow.
  void enroll(Reactor& reactor);
  bool enrolled() const noexcept { return slot_.load(std::memory_order_acquire) >= 0; }

  // Records that the enrolled reactor holds, or is about to hold, an interest on `fd`. Call it
  // in add, under the lock the reactor's forget takes, before the interest can be found by
  // forget. Any thread; no lock. Throws std::bad_alloc if the fd's chunk of the table cannot
  // be allocated (once per 4,096 descriptors, process-wide). No-op before enroll.
  void note(int fd);

  // Leaves the registry: from its return on, forget_everywhere no longer calls the reactor,
  // and no call is in progress. Idempotent; any thread. Never from inside the reactor's
  // forget or a resume action it runs (see the races above): that would deadlock.
  void withdraw() noexcept;

 private:
  std::atomic<int> slot_{-1};  // -1: not enrolled
  Reactor* reactor_ = nullptr;
};

// io::forget's engine: calls forget(fd) on every enrolled reactor that noted `fd` since the
// last call for `fd`, and clears that record. Any thread. Returns at once (one load) when no
// reactor ever waited on descriptors of that chunk.
void forget_everywhere(int fd) noexcept;

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_REACTOR_REGISTRY_H_
