// Copyright 2026 The Picos for C++ Authors.
//
// picos/handler.h — the interface between schedulers and everything else.
//
// A scheduler implements `Handler` and installs it on every thread it runs fibers on, with a
// `HandlerScope`. The core operations dispatch to the installed handler of the calling
// thread: `Trigger::await` -> `await`, `PackedComputation::cancel_after` -> `cancel_after`,
// `Fiber::yield` -> `yield`, `Fiber::spawn` -> `spawn`. `Fiber::current()` is not a
// handler call: the scheduler keeps a thread-local pointer current with
// `set_current_fiber()` at every switch, so reading it costs a thread-local load.
//
// With no handler installed, a built-in default treats the thread as one implicit fiber:
// await blocks the OS thread, yield calls sched_yield, cancel_after uses one process-wide
// timer thread, and spawn starts a detached OS thread running the fiber (see
// docs/core.md). Libraries written against picos therefore also work between plain threads.
//
// The scheduler contract (what docs/core.md spells out and the conformance suite checks):
//  - await: runs on the awaiting fiber's stack. Must suspend the fiber until the trigger is
//    signaled, using Fiber::try_suspend on the scheduler's own stack after switching away
//    (never before: a signaler on another thread could otherwise resume a still-running
//    stack). Returns `Fiber::current().canceled()` evaluated when the fiber resumes; never
//    throws.
//  - cancel_after: arms a timer that cancels the computation with the reason after the delay,
//    and removes it when the computation completes first (attach a trigger). The reason is
//    the handler's to move from (an rvalue reference: no copy, no temporary per call). May throw
//    the fiber's cancelation reason before arming if the fiber is canceled. The delay has been
//    checked non-negative; a delay too large to represent must be accepted and never fire.
//  - yield: lets other ready fibers run before the caller continues. May throw the fiber's
//    cancelation reason.
//  - spawn: all or nothing. If the current fiber is canceled before the call, throw its
//    reason and do not spawn. Once spawned, main must eventually be called, even if the new
//    fiber is canceled first. An exception escaping main is a fatal error.
//  - current fiber: `set_current_fiber` before any fiber code runs on the thread.
//  - reactor (optional): a scheduler that can wait for fd readiness in its own loop returns
//    its picos::Reactor (picos/reactor.h); //io then waits through it instead of its
//    background epoll thread. The default returns nullptr. Called on the handler's threads.

#ifndef PICOS_HANDLER_H_
#define PICOS_HANDLER_H_

#include <chrono>
#include <exception>

#include "absl/functional/any_invocable.h"
#include "picos/computation.h"
#include "picos/fiber.h"
#include "picos/fiber_main.h"
#include "picos/trigger.h"

namespace picos {

class Reactor;  // picos/reactor.h

class Handler {
 public:
  virtual ~Handler() = default;

  // See the contract above. Each is called on the stack of the current fiber of the thread
  // the handler is installed on.
  virtual std::exception_ptr await(const Trigger& trigger) noexcept = 0;
  virtual void cancel_after(const PackedComputation& computation, std::chrono::nanoseconds delay,
                            std::exception_ptr&& reason) = 0;
  virtual void yield() = 0;
  // `main` is a view of the caller's callable: move it where it will live with `place`
  // (storage of the handler's own, e.g. the fiber's record) or `take` (picos/fiber_main.h).
  virtual void spawn(FiberRef fiber, FiberMain main) = 0;
  // The scheduler's fd-readiness reactor, or nullptr (the default): see picos/reactor.h.
  virtual Reactor* reactor() noexcept { return nullptr; }
};

// Installs `handler` on the calling thread with `fiber` as the current fiber, for the scope's
// lifetime; restores the previous handler and fiber on destruction. Scopes nest. `fiber` may
// be null when the scheduler sets it with set_current_fiber before running fiber code.
class HandlerScope {
 public:
  HandlerScope(Handler& handler, Fiber* fiber) noexcept;
  ~HandlerScope();
  HandlerScope(const HandlerScope&) = delete;
  HandlerScope& operator=(const HandlerScope&) = delete;

 private:
  Handler* prev_handler_;
  Fiber* prev_fiber_;
};

// For schedulers: makes `fiber` the current fiber of the calling thread. Call it before
// switching to a fiber's stack (and, on a migrating scheduler, on the new thread).
void set_current_fiber(Fiber* fiber) noexcept;

// The handler installed on the calling thread, or nullptr for the default (no scheduler).
Handler* installed_handler() noexcept;

namespace internal {
// The handler operations dispatch to: the installed one, or the no-scheduler default.
Handler& current_handler() noexcept;
}  // namespace internal

}  // namespace picos

#endif  // PICOS_HANDLER_H_
