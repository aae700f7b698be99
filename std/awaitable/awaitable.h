// Copyright 2026 The Picos for C++ Authors.
//
// std/awaitable/awaitable.h — a futex-like atomic integer for fibers.
//
// `picos::awaitable::Awaitable` is a `std::atomic<std::int64_t>` that fibers can also wait on,
// like a Linux futex: `await(before)` suspends the current fiber until the value is seen to
// differ from `before` and somebody calls `signal()` or `broadcast()`. It is the building
// block of the poisonable primitives of //std/sync (Lock, Rwlock, Sem): they keep their whole
// state in the word and only touch the wait queue when someone has to sleep.
//
// Behaviour:
//  - Atomic updates (`store`, `exchange`, `compare_exchange`, `fetch_add`, ...) never wake
//    anyone. To wake waiters, update the value first and then call `signal` or `broadcast`.
//  - `await(before)` enqueues the fiber and *then* re-reads the value: if it already differs
//    from `before` it returns at once. A signaler that changed the value before signaling
//    therefore cannot be missed (no lost wake-up).
//  - A waiter is *signalable* when the current value differs from its `before`. `signal()`
//    wakes the oldest signalable waiter; `broadcast()` wakes every signalable one. Waiters
//    whose `before` equals the current value stay queued (their condition has not changed).
//  - ABA: if the value changes and changes back (A -> B -> A) between a waiter's read and its
//    `await(A)`, or between the change and a `signal()`, the waiter does not see a change and
//    keeps sleeping. Algorithms must make sure that whoever restores A signals again when it
//    is needed (for example by keeping a "there are waiters" bit in the value).
//  - Spurious wake-ups: `await` may return although the value equals `before` again by the
//    time the fiber runs (another fiber changed it back). Always re-check in a loop.
//
// Cancelation: `await` is a cancelation point when (and only when) it has to suspend. If the
// fiber is canceled while waiting (or already is canceled when it would suspend) `await`
// removes its queue node and throws the fiber's cancelation reason. If a `signal` chose it
// in the same instant, that wake-up is forwarded to another signalable waiter before
// throwing, so a canceled waiter never swallows a wake-up. When the value already differs
// from `before`, `await` returns normally even in a canceled fiber. `signal`, `broadcast`
// and the atomic operations are never cancelation points and never throw.
//
// Implementation and cost: the waiter queues live in one global, sharded "parking lot": a
// fixed table of cache-line sized buckets, chosen by hashing the Awaitable's address, each
// guarded by a picos::internal::SpinLock and holding an intrusive FIFO list of nodes that live
// on the waiting fibers' stacks. An Awaitable is therefore exactly one 8-byte word and costs
// nothing while nobody waits; a wait costs one trigger (one small allocation) and two short
// bucket-locked sections; `signal` scans the bucket's list (awaitables that hash to the same
// bucket share it) for the first matching node. Wakers signal the node's trigger under the
// bucket lock and resume its fiber after unlocking (Trigger::signal_deferred: the fiber, and
// so its node, stays put until then); for an Awaiter's node, whose trigger the caller may
// await through another handle, they copy the handle and signal it after unlocking.
//
// Thread safety: every operation may be called from any fiber or thread concurrently.
// Destroying an Awaitable while fibers wait on it is undefined behaviour (their nodes would
// stay in the parking lot, keyed by a dead address); move the value out of use first.

#ifndef PICOS_STD_AWAITABLE_AWAITABLE_H_
#define PICOS_STD_AWAITABLE_AWAITABLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "picos/trigger.h"

namespace picos::awaitable {

class Awaitable;

namespace internal {

// One queued waiter, on the waiting fiber's stack. Fields other than the constant ones are
// guarded by the lock of the bucket the node is in.
struct Node {
  Node(const Awaitable* key, std::int64_t before, bool always, Trigger trigger) noexcept
      : key(key), before(before), always(always), trigger(std::move(trigger)) {}
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const Awaitable* const key;  // which awaitable it waits on
  const std::int64_t before;   // signalable while the value differs from this...
  const bool always;           // ...or always (Awaiter)
  const Trigger trigger;       // signaled (after unlocking) by the waker
  Node* prev = nullptr;
  Node* next = nullptr;
  bool linked = false;  // false once a waker (or the owner) removed it
};

}  // namespace internal

class Awaitable {
 public:
  explicit Awaitable(std::int64_t initial = 0) noexcept : value_(initial) {}
  Awaitable(const Awaitable&) = delete;
  Awaitable& operator=(const Awaitable&) = delete;
  // Undefined if fibers are still waiting on it (see the file comment).
  ~Awaitable() = default;

  // ---- atomic operations (never wake anyone, never throw, any thread) ------------------

  std::int64_t load(std::memory_order order = std::memory_order_seq_cst) const noexcept {
    return value_.load(order);
  }
  void store(std::int64_t v, std::memory_order order = std::memory_order_seq_cst) noexcept {
    value_.store(v, order);
  }
  std::int64_t exchange(std::int64_t v,
                        std::memory_order order = std::memory_order_seq_cst) noexcept {
    return value_.exchange(v, order);
  }
  // Strong compare-and-exchange: on failure `expected` receives the current value.
  bool compare_exchange(std::int64_t& expected, std::int64_t desired,
                        std::memory_order order = std::memory_order_seq_cst) noexcept {
    return value_.compare_exchange_strong(expected, desired, order);
  }
  std::int64_t fetch_add(std::int64_t d,
                         std::memory_order order = std::memory_order_seq_cst) noexcept {
    return value_.fetch_add(d, order);
  }
  std::int64_t fetch_sub(std::int64_t d,
                         std::memory_order order = std::memory_order_seq_cst) noexcept {
    return value_.fetch_sub(d, order);
  }
  std::int64_t fetch_or(std::int64_t bits,
                        std::memory_order order = std::memory_order_seq_cst) noexcept {
    return value_.fetch_or(bits, order);
  }
  std::int64_t fetch_and(std::int64_t bits,
                         std::memory_order order = std::memory_order_seq_cst) noexcept {
    return value_.fetch_and(bits, order);
  }

  // ---- futex operations -------------------------------------------------------------

  // Suspends the current fiber until it is woken by `signal`/`broadcast` after the value
  // differs from `before`; returns at once (without suspending) if the value already differs.
  // May return spuriously (see above). A cancelation point when it has to suspend: throws
  // the fiber's cancelation reason, leaving nothing queued and forwarding a wake-up that
  // raced with the cancelation. Only the current fiber, for itself.
  void await(std::int64_t before);

  // Wakes the oldest signalable waiter (value != its `before`; Awaiter nodes always are).
  // Returns whether one was woken. Waiters already woken by their own cancelation are
  // skipped. Any thread; not a cancelation point; never throws.
  bool signal() noexcept;

  // Wakes every signalable waiter; returns how many. Any thread; never throws.
  std::size_t broadcast() noexcept;

 private:
  std::atomic<std::int64_t> value_;
};

static_assert(sizeof(Awaitable) == sizeof(std::int64_t), "an Awaitable is one word");

// A custom wait: puts `trigger` in `awaitable`'s queue as an always-signalable waiter, so
// that a fiber can wait for one of several things (for example a condition variable: queue
// on the condition, release the lock, then await the trigger). The Awaiter *is* the queue
// node: keep it on the waiting fiber's stack and do not move it. `signal`/`broadcast` on the
// awaitable signal the trigger (after removing the node). `remove()` (or the destructor)
// takes the node out without forwarding anything. The owner of the trigger awaits it as
// usual (Trigger::await); cancelation is the caller's business.
class Awaiter {
 public:
  // Enqueues `trigger` at the back of `awaitable`'s queue. Never throws.
  Awaiter(Awaitable& awaitable, Trigger trigger) noexcept;
  Awaiter(const Awaiter&) = delete;
  Awaiter& operator=(const Awaiter&) = delete;
  ~Awaiter() { (void)remove(); }

  // Removes the node if it is still queued. Returns true if this call removed it, false if a
  // `signal`/`broadcast` had already taken it (its trigger is then, or is about to be,
  // signaled: the caller "consumed" that wake-up and may want to forward it). Idempotent
  // (later calls return false). Never throws; not a cancelation point.
  bool remove() noexcept;

 private:
  internal::Node node_;
};

// Test and diagnostics helper: the number of nodes queued in the whole parking lot right now
// (all awaitables). Racy by nature; meant for quiescent points in tests ("no node left
// behind"). Locks every bucket in turn.
std::size_t parked_for_testing() noexcept;

}  // namespace picos::awaitable

#endif  // PICOS_STD_AWAITABLE_AWAITABLE_H_
