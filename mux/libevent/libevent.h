// Copyright 2026 The Picos for C++ Authors.
//
// mux/libevent/libevent.h — fibers driven by a libevent `event_base`.
//
// A single-threaded scheduler whose loop is a libevent event loop. It is used in one of two
// ways:
//
//  - `picos::mux::libevent::run(main)` creates its own `event_base`, runs `main` as the first
//    fiber and the loop on the calling thread until main and every fiber spawned inside have
//    finished, then frees the base. Like `picos::mux::fifo::run`, with the loop's fd
//    readiness on top.
//  - `Attachment` attaches fibers to an `event_base` that an existing libevent application
//    creates and runs itself (the C++ analogue of OCaml Picos' Lwt bridge). The application
//    keeps its own loop (`event_base_dispatch`, `event_base_loop`): it spawns fibers with
//    `Attachment::spawn` from any libevent callback (or any thread), the fibers run inside
//    libevent callbacks on the loop thread, and `event_base_dispatch` does not return for
//    lack of events while a fiber is alive.
//
// Behaviour:
//  - Fibers run inside one internal persistent event of the base. Activating it (a spawn, a
//    wake-up, a timer, an fd becoming ready) runs ready fibers in FIFO order, at most
//    `Options::budget` of them per callback; if some are still ready after that, the loop
//    polls (the application's events get a turn) before the next batch. A fiber resumed
//    because it was canceled goes to the head of the queue. `quota` works as in fifo.
//  - Timers: cancel_after and Fiber::sleep are libevent timers, but not one event per timer:
//    they live in one heap (picos::internal::TimerHeap) and ONE libevent timer event is armed
//    for the earliest live deadline. A computation that completes first removes its entry;
//    nothing leaks and no libevent event stays armed for it (the timer is re-armed after the
//    batch). A delay of 1 s or more is armed at the end of the batch, without a clock read. `run`
//    asks libevent for precise timers (EVENT_BASE_FLAG_PRECISE_TIMER); an attached base keeps the
//    application's choice (by default libevent may use a coarse monotonic clock, a few
//    milliseconds).
//  - Wake-ups from other threads (a trigger signaled on another thread, `Attachment::spawn`
//    from another thread) go through a mutex-protected queue and `event_active` on the
//    internal event, so they go through the loop: no other thread ever runs a fiber.
//  - fd readiness: `await_fd` (and `await_readable`/`await_writable`) suspend the calling
//    fiber until a descriptor is ready, with a one-shot libevent event on the loop. //io's
//    waits take a faster path: the scheduler offers a picos::Reactor (picos/reactor.h)
//    through `Handler::reactor()`, an epoll set of its own (the poller fifo uses,
//    poller/epoll_poller.h: edge-triggered, each descriptor registered once) whose
//    descriptor is one persistent event on the loop, polled without blocking when libevent
//    reports it; woken fibers are resumed on the loop thread with no cross-thread wake-up
//    (see docs/io.md). Its event is pending only while a fiber waits there, so it does not
//    keep an application's loop from returning.
//  - Stacks come from the loop thread's pool (mux/context/context.h); `stack_size` sets them.
//  - No static mutable state apart from libevent's process-wide thread setup (`use_threads`):
//    several loops may run at once on different threads, each with its own base.
//
// Which thread may call what:
//  - `use_threads`: any thread, any time; idempotent.
//  - `run` / `run_fiber`: any thread (also from inside another scheduler's fiber, which then
//    blocks that fiber's thread until it returns).
//  - `Attachment` constructor: any thread. Destructor: the loop thread, outside the
//    attachment's own fibers (aborts with a message otherwise), e.g. from an application
//    callback or after `event_base_dispatch` returned; or any thread while no loop runs on
//    the base.
//  - `Attachment::spawn`: any thread, and from any libevent callback.
//  - `Attachment::live_fibers`, `Attachment::failure`: the loop thread (or while the loop
//    does not run).
//  - `await_fd`, `await_readable`, `await_writable`: a fiber running on a libevent scheduler
//    (std::logic_error elsewhere). `current_base`: any thread (nullptr off such a fiber).
//  - The fatal handler and every fiber run on the loop thread, inside the libevent callback
//    of the internal event.
//
// Fatal errors: an exception escaping a spawned fiber's main goes to `fatal_exn_handler` on
// the loop thread. If it returns, scheduling continues; if it throws (the default rethrows),
// the scheduler stops: unfinished fibers are abandoned (their stacks are not unwound and their
// memory is deliberately kept, as in fifo), its events are removed from the base,
// `event_base_loopbreak` is called, and `run`/`run_fiber` throw the exception. An attached
// application sees its loop return and finds the exception in `Attachment::failure()`.
//
// Blocked fibers: if every fiber stays blocked with no timer and no fd event pending for
// `stall_warning`, one line is printed to stderr naming how many fibers are blocked (the
// check runs once per `stall_warning`, so the line comes one to two periods after the last
// progress). The scheduler never gives up on its own: another thread may still signal.
//
// Requirements on an application's base: it must have been created after
// `use_threads()` (or `evthread_use_pthreads()`) and without EVENT_BASE_FLAG_NOLOCK, or
// wake-ups from other threads are data races inside libevent. Only one loop may run on it.
//
// Performance (//bench:schedulers_benchmark, -c opt, loaded 2-core dev machine, fifo in the same
// binary as the baseline): yield, trigger round trip and spawn+finish stay inside one libevent
// callback and cost what fifo's do, plus one libevent poll (~1 us: a zero timeout, an
// epoll_wait, two callbacks) per `budget` dispatches while fibers keep each other busy: about
// +20 ns per dispatch with the default budget of 64, +1 ns with 1024. A larger budget makes
// the application's events wait longer. A pipe round trip through await_fd costs ~11 us
// (event_new, epoll_ctl add and delete, a poll per side) against ~1.6 us for the bare
// syscalls; through //io, which waits in the scheduler's epoll set, the echo benchmark makes
// 0.88 epoll_ctl per round trip instead of 4 and runs 1.45-1.52 x as fast, while a lone
// round trip (the loop asleep before each wake-up) is 5-10% slower (docs/io.md).

#ifndef PICOS_MUX_LIBEVENT_LIBEVENT_H_
#define PICOS_MUX_LIBEVENT_LIBEVENT_H_

#include <event2/event.h>

#include <chrono>
#include <climits>
#include <cstddef>
#include <exception>
#include <functional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "mux/common/options.h"
#include "mux/common/run.h"
#include "mux/context/context.h"
#include "picos/computation.h"
#include "picos/fiber.h"

namespace picos::mux::libevent {

struct Options : StackfulOptions {
  // Fibers resumed per libevent callback before the loop polls again. Must be positive.
  int budget = 64;
};

// Makes libevent thread-safe for the whole process: calls `evthread_use_pthreads()` once
// (std::call_once). It is a process-wide libevent setting that applies to bases created
// afterwards. `run` and `Attachment` call it; an application that attaches to its own base
// must call it (or evthread_use_pthreads) before creating that base. Any thread.
void use_threads();

class Scheduler;  // implementation detail (scheduler.h)

// Fibers attached to an `event_base` the application owns and runs. Not copyable or movable.
//
// While at least one fiber is alive, the attachment keeps one timer event pending on the
// base, so `event_base_dispatch` returns only once the application's events and all fibers
// are done (or on `event_base_loopbreak`/`loopexit`, which a fiber may call through
// `current_base()`). Pending cancel_after timers keep the loop alive until they fire or their
// computation completes (the libevent timer is re-armed after each batch of fibers, so for one
// completed from another thread, until its deadline or the next batch).
class Attachment {
 public:
  // Attaches to `base` (not owned; it must outlive the attachment). Throws
  // std::invalid_argument for bad options or a null base, std::runtime_error if libevent
  // cannot create the internal events. Any thread.
  explicit Attachment(event_base* base, const Options& options = {});

  // Detaches: removes and frees every event the attachment added to the base. Fibers that
  // have not finished are abandoned as after a fatal error (not unwound, memory kept; a late
  // signal from another thread stays harmless); fibers spawned but not yet started are
  // dropped without running. The loop thread, not from one of the attachment's fibers.
  ~Attachment();

  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;

  event_base* base() const noexcept { return base_; }

  // Runs `main` in `fiber` on the loop. Any thread, any callback. From one of this
  // attachment's own fibers it is `Fiber::spawn` (cancelation check, quota); elsewhere the
  // fiber is queued and the internal event activated, and it starts the next time the loop
  // runs. Throws std::invalid_argument for a null fiber or empty main, std::logic_error once
  // the scheduler has stopped after a fatal error.
  void spawn(FiberRef fiber, absl::AnyInvocable<void()> main);
  // The same with a new fiber on a new computation (nobody can cancel it).
  void spawn(absl::AnyInvocable<void()> main);

  // Fibers spawned and not finished (those queued from other threads count once the loop
  // has taken them in). Loop thread.
  std::size_t live_fibers() const noexcept;

  // The exception that stopped the scheduler (see Fatal errors), or nullptr. Loop thread.
  std::exception_ptr failure() const noexcept;

 private:
  event_base* base_;
  Scheduler* s_;  // one reference
};

// Suspends the calling fiber until `fd` is ready for `events` (EV_READ, EV_WRITE or both)
// and returns the events that are ready. One libevent event per call, added on entry and
// freed on return. Throws the fiber's cancelation reason if it is canceled before or while
// waiting (the event is deleted first: no callback comes later, the fd may be closed and
// reused at once); std::invalid_argument if `events` holds neither EV_READ nor EV_WRITE;
// std::system_error if libevent rejects the descriptor (e.g. EBADF); std::logic_error if the
// caller is not a fiber running on a libevent scheduler.
short await_fd(int fd, short events);
inline void await_readable(int fd) { (void)await_fd(fd, EV_READ); }
inline void await_writable(int fd) { (void)await_fd(fd, EV_WRITE); }

// The base of the libevent scheduler running the calling fiber, or nullptr when the caller
// is not such a fiber. Any thread; a thread-local read and a dynamic_cast.
event_base* current_base() noexcept;

// Runs `main` in `fiber` on a new event_base on the calling thread, and every fiber spawned
// from it, until all have finished; then frees the base. An exception escaping `main` goes to
// the fatal handler like any fiber's. Throws std::invalid_argument for bad options,
// std::runtime_error if libevent fails, and what the fatal handler throws.
void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options = {});

// The scheduler's name, as its errors and warnings give it.
inline constexpr char kSchedulerName[] = "picos::mux::libevent";

// Runs `main()` as the first fiber and returns its result, or rethrows its exception.
// Returns only after every fiber spawned inside has finished.
inline constexpr RunEntry<kSchedulerName, Options, &run_fiber> run{};

}  // namespace picos::mux::libevent

#endif  // PICOS_MUX_LIBEVENT_LIBEVENT_H_
