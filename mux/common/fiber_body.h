// Copyright 2026 The Picos for C++ Authors.
//
// mux/common/fiber_body.h — the steps every stackful scheduler performs the same way.
//
// - `run_main`: the body of a fiber's context. Runs `main`, destroys the closure while still
//   on the fiber, and stores whatever escapes in `error` (exceptions never cross a switch).
// - `try_suspend`: Fiber::try_suspend on the scheduler's stack; if it throws (out of memory,
//   or the trigger is concurrently awaited by another fiber), the exception is stored in
//   `error` for the fiber's await to return, and the fiber is resumed.
// - `fatal_outcome`: the fatal-error policy of Options::fatal_exn_handler: call the handler
//   with what escaped a fiber; returns null if it returned (scheduling continues), else the
//   exception to stop with (what it threw, or `error` itself when there is no handler).

// - `throw_off_fiber` / `off_fiber_error`: the error of a core operation (`operation` names
//   it: "picos::Fiber::yield") called where the scheduler runs code of its own and has no
//   current fiber: a trigger's action run by its loop (a timer's cancelation) or its
//   fatal-error handler. Every scheduler's operations check for that (a test and a branch)
//   and clear their current fiber around such code.

#ifndef PICOS_MUX_COMMON_FIBER_BODY_H_
#define PICOS_MUX_COMMON_FIBER_BODY_H_

#include <exception>
#include <functional>

#include "absl/functional/any_invocable.h"
#include "picos/fiber.h"
#include "picos/trigger.h"

namespace picos::mux::common {

inline void run_main(absl::AnyInvocable<void()>& main, std::exception_ptr& error) noexcept {
  try {
    main();
    main = nullptr;
  } catch (...) {
    error = std::current_exception();
    main = nullptr;
  }
}

inline bool try_suspend(Fiber& fiber, const Trigger& trigger, void* x, void* y,
                        Trigger::Action action, std::exception_ptr& error) noexcept {
  try {
    return fiber.try_suspend(trigger, x, y, action);
  } catch (...) {
    error = std::current_exception();  // surfaces as await's result
    return false;
  }
}

[[noreturn, gnu::cold]] void throw_off_fiber(const char* operation);
[[gnu::cold]] std::exception_ptr off_fiber_error(const char* operation) noexcept;

inline std::exception_ptr fatal_outcome(const std::function<void(std::exception_ptr)>& handler,
                                        const std::exception_ptr& error) noexcept {
  if (!handler) return error;
  try {
    handler(error);
    return nullptr;
  } catch (...) {
    return std::current_exception();
  }
}

}  // namespace picos::mux::common

#endif  // PICOS_MUX_COMMON_FIBER_BODY_H_
