// Copyright 2026 The Picos for C++ Authors.
//
// std/structured/bundle.h — scopes of fibers: Bundle (explicit) and Flock (implicit).
//
// A scope is opened by `join_after(f)`: it creates the scope, runs `f` on the calling fiber
// and returns only after every fiber forked into the scope has finished. The rules:
//
//  - Join: `join_after` returns (or throws) only once every fiber forked into the scope,
//    directly or by another fiber of the scope, has finished. While it waits, cancelation is
//    forbidden: canceling the parent cannot make it return early (the children are canceled
//    instead, see below, and the join returns when they are done).
//  - Errors: an exception escaping a forked fiber (or `f`) terminates the scope (cancels it
//    with Terminate: every fiber in it sees Terminate at its next cancelation point, unless
//    protected) and is re-raised by `join_after` after the join. Several distinct exceptions
//    are re-raised as one `Errors`, in the order they occurred; errors win over a Terminate
//    raised by `f`. `Terminate` is never an error: a fiber that ends with it ends quietly.
//  - Cancelation: the children run on the scope's computation, which a canceler ties to the
//    parent's computation. Canceling the parent (with reason X) cancels every child with X;
//    after the join, `join_after` throws X (the children's re-raising of X is not counted as
//    an error). `terminate()` cancels the scope with Terminate: it stops the children, and
//    `join_after` returns normally unless there were errors.
//  - Forking: `fork` into a scope that has been terminated (or canceled) throws the scope's
//    cancelation reason (normally Terminate) and forks nothing; `fork` into a scope whose
//    `join_after` has returned (a Bundle that escaped) throws std::invalid_argument
//    ("...: the scope has already been joined"). Any fiber may fork into a live scope.
//  - Restoration: when `join_after` returns or throws, the calling fiber's computation (and,
//    for a Flock, the current flock) is what it was before.
//
// `OnReturn::kTerminate` makes the scope terminate its children as soon as `f` returns
// (daemon fibers, e.g. a server loop); the default `kWait` waits for them to finish.
//
// Costs (measured in docs/structured.md): a scope is one allocation for its state, one
// computation, one trigger and one canceler trigger; a fork is one fiber plus an atomic
// increment/decrement; fork_as_promise adds a computation and a canceler.
//
// Thread safety: `fork`, `fork_as_promise`, `terminate`, `error` and `is_running` may be
// called from any fiber or thread while the scope is live. `join_after` runs on the calling
// fiber. A `Bundle` is a cheap handle; copies refer to the same scope.

#ifndef PICOS_STD_STRUCTURED_BUNDLE_H_
#define PICOS_STD_STRUCTURED_BUNDLE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "picos/computation.h"
#include "picos/fiber.h"
#include "picos/fiber_main.h"
#include "picos/internal/mutex.h"
#include "picos/internal/ref_count.h"
#include "picos/internal/thread_cache.h"
#include "picos/trigger.h"
#include "std/structured/control.h"
#include "std/structured/promise.h"

namespace picos::structured {

// What a scope does with its children when `f` returns normally.
enum class OnReturn : std::uint8_t {
  kWait,       // wait for them to finish
  kTerminate,  // terminate them, then wait for them to finish
};

namespace internal {

// Recycled per thread (ThreadCached): one is made per scope opened.
class BundleState : public picos::internal::RefCounted<BundleState>,
                    public picos::internal::ThreadCached<BundleState> {
 public:
  explicit BundleState(bool flock) : comp(Mode::kLifo), is_flock(flock) {}

  // Counts a fiber in (throws std::invalid_argument if the scope has been joined), checks the
  // scope is not canceled (undoes and throws its reason), and creates the child fiber on
  // `computation` (the scope's own one by default) with the flock key set for a flock (if
  // that throws, std::bad_alloc, it counts the fiber out again). The caller then owes the
  // count: spawn the fiber, or leave() if anything throws before it is spawned.
  FiberRef prepare_fork(const PackedComputation& computation);
  // Fiber::spawn_main (the closure goes to the fiber's record). Counts nothing out if it
  // throws: the caller's leave() does (see prepare_fork).
  void spawn(FiberRef fiber, FiberMain main);
  // Counts a fiber out; the last one cancels the scope's computation with Terminate (which
  // removes any timer) and wakes the join.
  void leave() noexcept;
  // Records `e` and terminates the scope, unless `e` is Terminate or the scope's own
  // cancelation reason (a consequence of the scope's cancelation, not an error).
  void error(const std::exception_ptr& e) noexcept;
  // Rethrows the recorded error, or throws Errors if there are several.
  void check_errors();

  PackedComputation comp;  // the scope's computation: children run on it
  const bool is_flock;
  std::atomic<std::int64_t> count{1};  // live fibers, plus one for the scope itself
  Trigger finished;                    // created (and awaited) by the joining fiber
  picos::internal::Mutex errors_mu;
  std::vector<std::exception_ptr> errors ABSL_GUARDED_BY(errors_mu);
  // Set (release, under errors_mu) with the first error: check_errors takes the mutex only
  // then, so a scope with no error pays no lock.
  std::atomic<bool> any_errors{false};
};

using BundleRef = picos::internal::Ref<BundleState>;

// The part of join_after that does not depend on the types: opening and joining.
class Scope {
 public:
  explicit Scope(bool flock);
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

  const BundleRef& state() const noexcept { return st_; }
  // Waits for the children (cancelation forbidden), restores the fiber, then throws the
  // errors, or the parent's cancelation reason. `e` is what `f` raised, if anything.
  void join(const std::exception_ptr& e);

 private:
  Fiber& fiber_;
  PackedComputation parent_;
  BundleRef st_;
  Trigger canceler_;
  BundleState* outer_flock_ = nullptr;
};

BundleState* current_flock() noexcept;

// Throws std::invalid_argument("<fn>: empty function"): a fork of an empty callable
// (picos::is_empty_callable), before anything is forked.
[[noreturn, gnu::cold]] void throw_empty_function(const char* fn);

// Runs a child's function and accounts for it; `fn` is destroyed before the scope is told
// (so nothing it captured outlives join_after).
template <typename F>
void run_child(BundleState& st, std::optional<F>& fn) noexcept {
  std::exception_ptr e;
  try {
    (*fn)();
  } catch (...) {
    e = std::current_exception();
  }
  fn.reset();
  if (e) {
    st.error(e);
    e = nullptr;  // dropped before the join can return (see release_before_leave in bundle.cc)
  }
  st.leave();
}

}  // namespace internal

class Bundle {
 public:
  // Opens a scope, runs `f(bundle)` on the calling fiber and joins (see the rules at the top).
  // Returns `f`'s result. Throws, after the join: the child errors (one, or Errors), else the
  // parent's cancelation reason, else what `f` threw. Throws the parent's cancelation reason
  // without calling `f` if the calling fiber's computation is already canceled.
  template <typename F>
  static std::invoke_result_t<F&, Bundle&> join_after(F&& f, OnReturn on_return = OnReturn::kWait);

  // Starts `f()` in a new fiber of the scope. Never suspends. Throws std::invalid_argument if
  // the scope has been joined, the scope's cancelation reason (Terminate) if it has been
  // terminated, and the calling fiber's reason if that fiber is canceled; then nothing runs.
  // Also throws what copying or moving `f` into the fiber throws (or std::bad_alloc); then
  // too nothing runs and the scope is as before: its join does not wait for that fiber. An
  // empty `f` (std::function, function pointer) throws std::invalid_argument
  // ("picos::structured::Bundle::fork: empty function"; fork_as_promise's names itself).
  template <typename F>
  void fork(F&& f) const;

  // Like fork, and returns a Promise of `f()`'s result. The fiber runs on the promise's own
  // computation (a child of the scope's): terminating the promise stops only that fiber.
  template <typename F>
  Promise<std::invoke_result_t<F&>> fork_as_promise(F&& f) const;

  // Cancels the scope with Terminate: no more forks, and the children's blocking operations
  // throw Terminate (unless protected). Never suspends; any thread; idempotent.
  void terminate() const noexcept { (void)st_->comp.try_cancel(terminate_reason()); }
  // Terminates the scope after `delay` (the timer is removed when the scope ends). A negative
  // delay throws std::invalid_argument. A delay of any other std::chrono::duration too long
  // for nanoseconds (seconds::max(), 300 years) saturates to nanoseconds::max() and never
  // fires; its negative delays name "picos::structured::Bundle::terminate_after".
  void terminate_after(std::chrono::nanoseconds delay) const {
    st_->comp.cancel_after(delay, terminate_reason());
  }
  template <typename Rep, typename Period>
  void terminate_after(std::chrono::duration<Rep, Period> delay) const {
    terminate_after(
        picos::internal::saturated_delay(delay, "picos::structured::Bundle::terminate_after"));
  }
  // Reports `e` as an error of the scope (terminates it; re-raised by join_after), unless it
  // is Terminate.
  void error(const std::exception_ptr& e) const noexcept { st_->error(e); }
  // False once the scope has been terminated or canceled.
  bool is_running() const noexcept { return st_->comp.is_running(); }

 private:
  friend class Flock;
  explicit Bundle(internal::BundleRef st) noexcept : st_(std::move(st)) {}
  template <typename F>
  static std::invoke_result_t<F&, Bundle&> join(bool flock, F& f, OnReturn on_return);

  internal::BundleRef st_;
};

// A scope held implicitly in fiber-local storage: `Flock::join_after(f)` opens it (f takes no
// argument) and `Flock::fork` forks into the innermost one of the current fiber; fibers forked
// into a flock can fork into it too. The rules are Bundle's. Every operation except join_after
// throws std::invalid_argument ("...: no flock") when the current fiber is in no flock.
class Flock {
 public:
  template <typename F>
  static std::invoke_result_t<F&> join_after(F&& f, OnReturn on_return = OnReturn::kWait) {
    auto g = [&f](Bundle&) -> decltype(auto) { return f(); };
    return Bundle::join(true, g, on_return);
  }
  template <typename F>
  static void fork(F&& f) {
    current().fork(std::forward<F>(f));
  }
  template <typename F>
  static Promise<std::invoke_result_t<F&>> fork_as_promise(F&& f) {
    return current().fork_as_promise(std::forward<F>(f));
  }
  static void terminate() { current().terminate(); }
  static void terminate_after(std::chrono::nanoseconds delay) { current().terminate_after(delay); }
  // Any other duration: saturated as by Bundle::terminate_after (errors name Flock's).
  template <typename Rep, typename Period>
  static void terminate_after(std::chrono::duration<Rep, Period> delay) {
    current().terminate_after(
        picos::internal::saturated_delay(delay, "picos::structured::Flock::terminate_after"));
  }
  static void error(const std::exception_ptr& e) { current().error(e); }
  // The current flock as a Bundle handle (throws "no flock" outside one).
  static Bundle current();
};

// ---- implementation --------------------------------------------------------------------

template <typename F>
std::invoke_result_t<F&, Bundle&> Bundle::join_after(F&& f, OnReturn on_return) {
  return join(false, f, on_return);
}

template <typename F>
std::invoke_result_t<F&, Bundle&> Bundle::join(bool flock, F& f, OnReturn on_return) {
  using R = std::invoke_result_t<F&, Bundle&>;
  internal::Scope scope(flock);
  Bundle bundle(scope.state());
  std::exception_ptr e;
  if constexpr (std::is_void_v<R>) {
    try {
      f(bundle);
      if (on_return == OnReturn::kTerminate) bundle.terminate();
    } catch (...) {
      e = std::current_exception();
    }
    scope.join(e);
    if (e) std::rethrow_exception(e);
  } else {
    std::optional<R> r;
    try {
      r.emplace(f(bundle));
      if (on_return == OnReturn::kTerminate) bundle.terminate();
    } catch (...) {
      e = std::current_exception();
    }
    scope.join(e);
    if (e) std::rethrow_exception(e);
    return std::move(*r);
  }
}

template <typename F>
void Bundle::fork(F&& f) const {
  using D = std::decay_t<F>;
  if (is_empty_callable(std::as_const(f)))
    internal::throw_empty_function("picos::structured::Bundle::fork");
  FiberRef fiber = st_->prepare_fork(st_->comp);
  // Counted in: until the fiber is spawned, whatever throws (the copy or move of `f`, which is
  // the caller's code, or the spawn) counts it out again, else the join would wait for it.
  try {
    auto main = [st = st_, fn = std::optional<D>(std::forward<F>(f))]() mutable {
      internal::run_child(*st, fn);
    };
    st_->spawn(std::move(fiber), FiberMain(main));
  } catch (...) {
    st_->leave();
    throw;
  }
}

template <typename F>
Promise<std::invoke_result_t<F&>> Bundle::fork_as_promise(F&& f) const {
  using D = std::decay_t<F>;
  using R = std::invoke_result_t<F&>;
  if (is_empty_callable(std::as_const(f))) {
    internal::throw_empty_function("picos::structured::Bundle::fork_as_promise");
  }
  Computation<R> child(Mode::kLifo);
  FiberRef fiber = st_->prepare_fork(child);  // attaches no canceler yet
  // Counted in: until the fiber is spawned, whatever throws (attaching the canceler, the copy
  // or move of `f`, which is the caller's code, or the spawn) undoes what was done.
  std::optional<Trigger> canceler;
  try {
    canceler = PackedComputation::attach_canceler(st_->comp, child);
    // Everything the fiber holds but the scope is released before the scope is told it is
    // done: the handles by moving them out (a moved-from handle holds nothing), so that the
    // closure stays within the fiber's inline room (FiberMain: 64 bytes) for a callable of up
    // to 32 bytes.
    auto main = [st = st_, child, canceler = *canceler,
                 fn = std::optional<D>(std::forward<F>(f))]() mutable {
      auto body = [&] {
        if constexpr (std::is_void_v<R>) {
          (*fn)();
          child.try_return();
        } else {
          child.try_return((*fn)());
        }
      };
      std::exception_ptr e;
      try {
        body();
      } catch (...) {
        e = std::current_exception();
      }
      fn.reset();
      if (e) {
        child.try_cancel(e);
        st->error(e);
        e = nullptr;
      }
      st->comp.detach(canceler);
      { Trigger dropped = std::move(canceler); }
      { Computation<R> dropped = std::move(child); }
      st->leave();
    };
    st_->spawn(std::move(fiber), FiberMain(main));
  } catch (...) {
    if (canceler) st_->comp.detach(*canceler);
    st_->leave();
    throw;
  }
  return Promise<R>(std::move(child));
}

}  // namespace picos::structured

#endif  // PICOS_STD_STRUCTURED_BUNDLE_H_
