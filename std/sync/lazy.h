// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/lazy.h — a value computed at most once, on first demand, safely from many fibers.
//
// `Lazy<T>` holds a thunk (a callable returning T). The first `force()` runs the thunk on the
// forcing fiber and stores its outcome permanently: the value, or the exception it threw.
// Every other `force()` returns that value by reference or rethrows that exception; a
// `force()` that comes while the thunk runs on another fiber suspends until it finishes.
// A Lazy is a cheap handle (copies refer to the same lazy value), like Ivar; T may be
// move-only. `Lazy<void>` is not supported (use a Latch, or Lazy of a small struct).
//
// Behaviour:
//  - `force` is a cancelation point until the outcome is known: a fiber that is already
//    canceled throws its reason and does *not* start the thunk (`Fiber::check`); a fiber
//    waiting for another forcer throws its reason if canceled while waiting (the thunk goes
//    on, and later forces see its outcome). Once the outcome is known `force` neither
//    suspends nor checks cancelation.
//  - The thunk runs with the forcer's cancelation state, so a cancelation raised inside it
//    (the forcer canceled while the thunk was blocked) is an exception like any other: it is
//    stored and rethrown by every later `force`.
//  - Forcing a Lazy from inside its own thunk (the same fiber) throws `LazyUndefined`
//    (a std::logic_error) instead of deadlocking; if the thunk lets it escape it becomes the
//    stored outcome. Concurrent forces from other fibers or threads never see it: they wait.
//  - A thunk that waits for another fiber which forces the same Lazy deadlocks (that fiber
//    waits for the thunk): as with any lock cycle, avoid it.
//  - `is_value`, `peek`, `computation` and `from_value` never suspend, are not cancelation
//    points and never throw in a canceled fiber.
//
// Any fiber or thread may call any operation. The value returned by `force` lives as long
// as some handle to the Lazy (or to its `computation()`) does.
//
// Implementation: a picos::Computation<T> holds the outcome (waiters await it), and a spin
// lock guards the hand-over of the thunk to the first forcer. Cost after the first force:
// one atomic load.

#ifndef PICOS_STD_SYNC_LAZY_H_
#define PICOS_STD_SYNC_LAZY_H_

#include <memory>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "picos/computation.h"
#include "picos/fiber.h"
#include "picos/internal/spin_lock.h"
#include "picos/internal/thread_cache.h"

namespace picos::sync {

// Thrown by Lazy::force when called from inside the Lazy's own thunk.
class LazyUndefined : public std::logic_error {
 public:
  LazyUndefined()
      : std::logic_error("picos::sync::Lazy::force: forced from inside its own thunk") {}
};

template <typename T>
class Lazy {
  static_assert(!std::is_void_v<T>, "picos::sync::Lazy<void> is not supported");
  static_assert(!std::is_reference_v<T>, "picos::sync::Lazy<T&> is not supported");

 public:
  // A Lazy whose value is `thunk()`, computed by the first `force`. `thunk` may be move-only;
  // it is destroyed once it has run (or with the Lazy, if never forced).
  template <typename F,
            typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Lazy> &&
                                        std::is_convertible_v<std::invoke_result_t<F&>, T>>>
  explicit Lazy(F thunk) : s_(make_state()) {
    s_->thunk = [result = s_->result, f = std::move(thunk)]() mutable {
      result.capture([&]() -> T { return f(); });
    };
  }

  // A Lazy that already holds `value`.
  static Lazy from_value(T value) {
    Lazy l(make_state());
    l.s_->result.return_value(std::move(value));
    return l;
  }

  // Returns the value, computing it on this fiber if nobody has started yet, or waiting for
  // the fiber that is computing it. Throws the stored exception if the thunk threw; throws
  // the fiber's cancelation reason if it is canceled before the outcome is known (see the
  // file comment); throws LazyUndefined if called from inside the thunk.
  const T& force() const {
    const Computation<T>& result = s_->result;
    if (!result.is_running()) return result.await();  // known: no suspension, no check
    Fiber& me = Fiber::current();
    me.check();
    absl::AnyInvocable<void()> job;
    {
      internal::SpinLockGuard guard(s_->lock);
      if (s_->thunk) {
        job = std::exchange(s_->thunk, nullptr);  // leaves thunk empty, whatever the type
        s_->runner = &me;
      } else if (s_->runner == &me && result.is_running()) {
        // Only the runner completes `result`, and it runs the thunk to the end on its own
        // stack: a running result whose runner is this fiber means we are inside the thunk.
        throw LazyUndefined();
      }
    }
    if (job) {
      job();          // completes `result` with the value or the exception; never throws
      job = nullptr;  // release what the thunk captured now, not with the Lazy
    }
    return result.await();  // waits (cancelably) unless we just computed it
  }

  // True iff the value has been computed (false while pending, and if the thunk threw).
  bool is_value() const noexcept { return s_->result.is_returned(); }

  // The value's address if computed, nullptr while pending; rethrows a stored exception.
  // Never runs the thunk.
  const T* peek() const {
    if (s_->result.is_running()) return nullptr;
    return &s_->result.await();
  }

  // A Lazy of `f(force())`, computed when it is forced (forcing it forces this one).
  template <typename F, typename U = std::decay_t<std::invoke_result_t<F&, const T&>>>
  Lazy<U> map(F f) const {
    return Lazy<U>([src = *this, f = std::move(f)]() mutable -> U { return f(src.force()); });
  }

  // The computation that completes with the outcome (for selecting over several waits).
  // Awaiting it does not start the thunk.
  const Computation<T>& computation() const noexcept { return s_->result; }

 private:
  struct State {
    internal::SpinLock lock;
    absl::AnyInvocable<void()> thunk ABSL_GUARDED_BY(lock);  // empty once taken by the runner
    const Fiber* runner ABSL_GUARDED_BY(lock) = nullptr;     // the fiber running the thunk
    Computation<T> result{Mode::kFifo};
  };

  // The state with its shared_ptr control block, from the thread's cache (one per Lazy).
  static std::shared_ptr<State> make_state() { return internal::make_cached_shared<State>(); }

  explicit Lazy(std::shared_ptr<State> s) noexcept : s_(std::move(s)) {}

  std::shared_ptr<State> s_;
};

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_LAZY_H_
