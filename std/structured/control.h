// Copyright 2026 The Picos for C++ Authors.
//
// std/structured/control.h — the exceptions and fiber controls of picos::structured.
//
// `Terminate` is the cancelation reason every structured operation uses to stop fibers that
// are no longer needed. It is *not* an error: a scope (Bundle, Flock, Run) never reports it,
// and a fiber that ends by raising it ends quietly. `Errors` aggregates several distinct
// exceptions raised by the fibers of one scope.
//
// `Control` gathers the small operations on the *current* fiber: yield, sleep, check,
// protect (run with cancelation masked), block (suspend until canceled) and terminate_after
// (run a function with a deadline). Every function here acts on the calling fiber and may be
// called only by it. Written only against //picos: it runs on every scheduler, and on plain
// threads (each an implicit fiber).
//
// This library captures an exception_ptr, leaves the handler, and only then waits (see
// docs/structured.md): it holds on schedulers that do not keep the C++ runtime's exception
// state per fiber, as ours do (docs/hazards.md).

#ifndef PICOS_STD_STRUCTURED_CONTROL_H_
#define PICOS_STD_STRUCTURED_CONTROL_H_

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "picos/computation.h"
#include "picos/fiber.h"
#include "picos/trigger.h"

namespace picos::structured {

// The reason structured operations cancel fibers with. Not an error (see above).
class Terminate : public std::exception {
 public:
  const char* what() const noexcept override { return "picos::structured::Terminate"; }
};

// Several distinct exceptions raised by the fibers of one scope, in the order they occurred.
// `what()` reads "Errors[<what of the 1st>; <what of the 2nd>; ...]". A scope with exactly
// one error rethrows that exception itself, never an Errors of one.
class Errors : public std::exception {
 public:
  explicit Errors(std::vector<std::exception_ptr> errors);
  const std::vector<std::exception_ptr>& errors() const noexcept { return errors_; }
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::vector<std::exception_ptr> errors_;
  std::string what_;
};

// The one shared Terminate exception every structured cancelation uses (no allocation).
const std::exception_ptr& terminate_reason() noexcept;
// True iff `e` holds a Terminate.
bool is_terminate(const std::exception_ptr& e) noexcept;

// Operations on the current fiber. A namespace-like struct: only static members.
struct Control {
  // Fiber::yield: lets other fibers run; throws the fiber's cancelation reason if canceled.
  static void yield() { Fiber::yield(); }

  // Fiber::sleep: suspends for `delay`; a cancelation point (throws the reason). A negative
  // delay throws std::invalid_argument. A delay of any other std::chrono::duration (seconds,
  // hours, a floating-point count) too long for nanoseconds (seconds::max(), 300 years)
  // saturates to nanoseconds::max(): the sleep ends only by cancelation. Its negative delays
  // are reported as "picos::structured::Control::sleep: delay must be non-negative (got
  // -1000000000 ns)"; nanoseconds ones as Fiber::sleep reports them.
  static void sleep(std::chrono::nanoseconds delay) { Fiber::sleep(delay); }
  template <typename Rep, typename Period>
  static void sleep(std::chrono::duration<Rep, Period> delay) {
    Fiber::sleep(picos::internal::saturated_delay(delay, "picos::structured::Control::sleep"));
  }

  // Throws the current fiber's cancelation reason if it is canceled and permits cancelation.
  static void check() { Fiber::current().check(); }

  // Throws Terminate unless `condition` holds.
  static void terminate_unless(bool condition) {
    if (!condition) std::rethrow_exception(terminate_reason());
  }

  // Runs `f()` with cancelation propagation forbidden (blocking operations inside complete
  // normally even if the fiber is canceled) and returns its result; the previous state is
  // restored on return or exception. The cancelation, if any, is seen by the next
  // cancelation point after `protect` returns. Use it for cleanup that must not be cut short.
  template <typename F>
  static decltype(auto) protect(F&& f) {
    return Fiber::current().forbid(std::forward<F>(f));
  }

  // Suspends the fiber until it is canceled, then throws the cancelation reason. Never
  // returns normally. Throws std::invalid_argument ("cancelation forbidden") when called with
  // cancelation forbidden (it could never wake), and std::runtime_error ("computation
  // finished") if the fiber's computation completes without being canceled (someone returned
  // it from outside: nothing could cancel the fiber any more).
  [[noreturn]] static void block();

  // Runs `f()` with a deadline: after `delay` the computation `f` runs on is canceled with
  // Terminate, so the blocking operation `f` is in (or its next cancelation point) throws
  // Terminate, which propagates out of terminate_after unless `f` handles it. Returns `f`'s
  // result if it finishes first (the timer is then removed: nothing leaks). Canceling the
  // fiber also cancels `f` (with the fiber's reason). The fiber's computation is restored when
  // terminate_after returns or throws. Throws the fiber's cancelation reason, without calling
  // `f`, if the fiber is already canceled; std::invalid_argument for a negative delay
  // ("picos::structured::Control::terminate_after: delay must be non-negative (got -5 ns)").
  // A delay of any other std::chrono::duration too long for nanoseconds (seconds::max(), 300
  // years) saturates to nanoseconds::max() and never fires.
  // Cost: one computation, one canceler trigger and one scheduler timer.
  template <typename F>
  static std::invoke_result_t<F&> terminate_after(std::chrono::nanoseconds delay, F&& f);
  // (Constrained so that a nanoseconds argument unambiguously takes the overload above.)
  template <typename Rep, typename Period, typename F>
  static std::invoke_result_t<F&>
  terminate_after(std::chrono::duration<Rep, Period> delay, F&& f) requires(
      !std::is_same_v<std::chrono::duration<Rep, Period>, std::chrono::nanoseconds>) {
    return terminate_after(picos::internal::saturated_delay(delay, kTerminateAfter),
                           std::forward<F>(f));
  }

  // The name terminate_after's delay errors carry.
  static constexpr char kTerminateAfter[] = "picos::structured::Control::terminate_after";
};

namespace internal {

// The computation swap behind Control::terminate_after.
class Deadline {
 public:
  explicit Deadline(std::chrono::nanoseconds delay);
  // Same with any other duration, saturated as by Control::terminate_after.
  template <typename Rep, typename Period>
  explicit Deadline(std::chrono::duration<Rep, Period> delay)
      : Deadline(picos::internal::saturated_delay(delay, Control::kTerminateAfter)) {}
  // Completes the deadline's computation (canceled with `e` if not null), removes the
  // canceler and restores the fiber's computation.
  void end(const std::exception_ptr& e) noexcept;

 private:
  Fiber& fiber_;
  PackedComputation outer_;
  Computation<void> inner_;
  Trigger canceler_;
};

}  // namespace internal

template <typename F>
std::invoke_result_t<F&> Control::terminate_after(std::chrono::nanoseconds delay, F&& f) {
  using R = std::invoke_result_t<F&>;
  internal::Deadline deadline(delay);
  std::exception_ptr e;
  if constexpr (std::is_void_v<R>) {
    try {
      f();
    } catch (...) {
      e = std::current_exception();
    }
    deadline.end(e);
    if (e) std::rethrow_exception(e);
  } else {
    std::optional<R> r;
    try {
      r.emplace(f());
    } catch (...) {
      e = std::current_exception();
    }
    deadline.end(e);
    if (e) std::rethrow_exception(e);
    return std::move(*r);
  }
}

}  // namespace picos::structured

#endif  // PICOS_STD_STRUCTURED_CONTROL_H_
