// Copyright 2026 The Picos for C++ Authors.
//
// std/structured/run.h — run several actions concurrently, in one scope.
//
// Each function opens a scope (a Bundle), forks every action but the last into it and runs
// the last one on the calling fiber, then joins: it returns only when every action has
// finished. The scope rules of bundle.h apply: an action that raises an error terminates the
// others and the error is re-raised (several distinct ones as Errors); Terminate raised by an
// action is not an error; canceling the caller cancels the actions and the call throws the
// caller's reason after the join. Actions not yet started when the scope stops running are
// skipped. Must be called from a fiber (or a thread, as an implicit fiber).
//
// Cost: one scope, plus one fiber per action but the last.

#ifndef PICOS_STD_STRUCTURED_RUN_H_
#define PICOS_STD_STRUCTURED_RUN_H_

#include <exception>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "picos/computation.h"
#include "std/structured/bundle.h"
#include "std/structured/control.h"
#include "std/structured/promise.h"

namespace picos::structured {

struct Run {
  // Runs all the actions to completion (or until an error terminates them).
  static void all(std::vector<std::function<void()>> actions);
  template <typename... F>
  static void all(F&&... actions) {
    all(std::vector<std::function<void()>>{std::function<void()>(std::forward<F>(actions))...});
  }

  // Returns as soon as one action returns normally: that terminates the others (which are
  // still joined before `any` returns). Also returns normally if every action ends with
  // Terminate. Errors as above.
  static void any(std::vector<std::function<void()>> actions);
  template <typename... F>
  static void any(F&&... actions) {
    any(std::vector<std::function<void()>>{std::function<void()>(std::forward<F>(actions))...});
  }

  // Like any, and returns the value of the first action to return one; the others are
  // terminated. Throws Terminate if no action returned a value (all were terminated).
  template <typename T>
  static T first_or_terminate(std::vector<std::function<T()>> actions);
  template <typename F, typename... G>
  static std::invoke_result_t<F&> first_or_terminate(F&& first, G&&... rest) {
    using T = std::invoke_result_t<F&>;
    return first_or_terminate<T>(std::vector<std::function<T()>>{
        std::function<T()>(std::forward<F>(first)), std::function<T()>(std::forward<G>(rest))...});
  }

  // Waits for the first of `promises` to return a value, terminates all of them, and returns
  // that value. A promise that was terminated is skipped; if all were, throws Terminate. A
  // promise that failed with an error makes the call throw it. Needs a copyable T.
  template <typename T>
  static T first_or_terminate(const std::vector<Promise<T>>& promises);
};

template <typename T>
T Run::first_or_terminate(std::vector<std::function<T()>> actions) {
  Computation<T> result;
  std::vector<std::function<void()>> wrapped;
  wrapped.reserve(actions.size());
  for (auto& a : actions) {
    wrapped.emplace_back([&result, &a] { result.try_return(a()); });
  }
  any(std::move(wrapped));
  if (!result.is_returned()) std::rethrow_exception(terminate_reason());
  return result.take();
}

template <typename T>
T Run::first_or_terminate(const std::vector<Promise<T>>& promises) {
  struct TerminateAll {
    const std::vector<Promise<T>>& ps;
    ~TerminateAll() {
      for (const auto& p : ps) p.terminate();
    }
  } terminate_all{promises};
  std::vector<std::function<T()>> actions;
  actions.reserve(promises.size());
  for (const auto& p : promises) {
    actions.emplace_back([p]() -> T { return p.await(); });
  }
  return first_or_terminate<T>(std::move(actions));
}

}  // namespace picos::structured

#endif  // PICOS_STD_STRUCTURED_RUN_H_
