// Copyright 2026 The Picos for C++ Authors.
//
// std/structured/promise.h — the handle to a fiber forked with `fork_as_promise`.
//
// A `Promise<T>` is a cheap handle (copies refer to the same promise) to the computation a
// forked fiber runs on: it completes with the fiber's return value, or is canceled with the
// exception the fiber raised, or with Terminate when someone terminates it. Terminating a
// promise cancels the fiber's computation: the fiber's blocking operations throw Terminate
// (unless it protects them). It does not wait for the fiber to finish (the scope's join does)
// and it does not terminate the scope. An error raised by the fiber, on the other hand,
// terminates the scope it was forked into, and the scope re-raises it (see bundle.h).
//
// Thread safety: every operation may be called from any fiber or thread; `await` and
// `try_await` suspend the calling fiber.

#ifndef PICOS_STD_STRUCTURED_PROMISE_H_
#define PICOS_STD_STRUCTURED_PROMISE_H_

#include <chrono>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "picos/computation.h"
#include "std/structured/control.h"

namespace picos::structured {

template <typename T>
class Promise {
  static constexpr bool kVoid = std::is_void_v<T>;

 public:
  // A promise that is already completed with `value` (for void: already completed).
  template <typename... A>
  static Promise of_value(A&&... value) {
    return Promise(Computation<T>::returned(std::forward<A>(value)...));
  }

  // Suspends until the promise completes, then returns its value (by reference to the shared
  // state, alive while some handle is) or rethrows the exception it was canceled with:
  // Terminate if it was terminated, the fiber's exception if the fiber raised one. A
  // cancelation point: if the *awaiting* fiber is canceled it throws that reason instead.
  decltype(auto) await() const { return c_.await(); }

  // Like await, but a terminated promise gives std::nullopt (false for void) instead of
  // throwing Terminate. Other exceptions are rethrown. Needs a copyable T.
  auto try_await() const {
    c_.wait();
    if constexpr (kVoid) {
      if (is_terminate(c_.canceled())) return false;
      c_.check();
      return true;
    } else {
      if (is_terminate(c_.canceled())) return std::optional<T>();
      return std::optional<T>(c_.await());
    }
  }

  // Never suspends: the outcome if completed (value, or rethrows), std::nullopt (false for
  // void) while running. Needs a copyable T.
  auto peek() const { return c_.peek(); }

  // Cancels the promise's computation with Terminate; no-op if it has completed. Returns
  // immediately: the fiber may still be running (the scope's join waits for it). Any thread.
  bool try_terminate() const noexcept { return c_.try_cancel(terminate_reason()); }
  void terminate() const noexcept { (void)try_terminate(); }

  // Terminates the promise after `delay` unless it completes first (the timer is then
  // removed). Throws std::invalid_argument for a negative delay, and the current fiber's
  // cancelation reason if it is canceled. A delay of any other std::chrono::duration too long
  // for nanoseconds (seconds::max(), 300 years) saturates to nanoseconds::max() and never
  // fires; its negative delays name "picos::structured::Promise::terminate_after".
  void terminate_after(std::chrono::nanoseconds delay) const {
    c_.cancel_after(delay, terminate_reason());
  }
  template <typename Rep, typename Period>
  void terminate_after(std::chrono::duration<Rep, Period> delay) const {
    terminate_after(
        picos::internal::saturated_delay(delay, "picos::structured::Promise::terminate_after"));
  }

  bool is_running() const noexcept { return c_.is_running(); }

  // The underlying computation: attach triggers to it, or wrap it as an event.
  const Computation<T>& computation() const noexcept { return c_; }

 private:
  template <typename>
  friend class Promise;
  friend class Bundle;
  explicit Promise(Computation<T> c) noexcept : c_(std::move(c)) {}

  Computation<T> c_;
};

}  // namespace picos::structured

#endif  // PICOS_STD_STRUCTURED_PROMISE_H_
