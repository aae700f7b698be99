// Copyright 2026 The Picos for C++ Authors.
//
// mux/fifo/fifo.h — a single-threaded FIFO scheduler.
//
// `picos::mux::fifo::run(main)` turns the calling thread into a scheduler: `main` runs as the
// first fiber, every fiber spawned inside runs on this same thread, and `run` returns main's
// value (or rethrows its exception) once main and every fiber spawned inside have finished.
//
// Behaviour:
//  - Ready fibers run in FIFO order. A fiber resumed because it was canceled goes to the head
//    of the queue, so cancelation is acted upon promptly.
//  - `quota` bounds how many operations that do not suspend (spawn, cancel_after, an await
//    that finds its trigger signaled or its fiber canceled by the time the scheduler looks) a
//    fiber may perform before it is made to yield. (An await of a trigger that is already
//    signaled when `await()` is called never reaches the scheduler at all.)
//  - Timers (cancel_after, sleep) live in the scheduler, in one heap: no thread per timer.
//  - Fibers may be woken from any thread: a trigger signaled on another thread puts the fiber
//    back on this scheduler's queue and wakes the scheduler if it sleeps. An idle scheduler
//    polls for such a wake-up for `idle_spin` (20 µs), then sleeps on a condition variable
//    (or in its epoll set while fibers wait for descriptors).
//  - Stacks are allocated when a fiber first runs, from a per-thread pool (see
//    mux/context/context.h); `stack_size` sets their size.
//  - Several fifo schedulers may run at once on different threads (or nested on one): each
//    `run` owns its whole state; there is no static mutable state.
//
// Fatal errors: an exception escaping the main of a spawned fiber is passed to
// `fatal_exn_handler`. If the handler returns, scheduling continues; if it throws (the
// default handler rethrows), the scheduler stops and `run`/`run_fiber` throw that exception.
// Fibers that have not finished by then are abandoned: their stacks are not unwound and
// their memory is deliberately kept, so a late signal from another thread stays harmless.
//
// Blocked fibers: if every fiber stays blocked with no timer pending, the scheduler keeps
// waiting for another thread to wake them (nothing on this scheduler can), and after
// `stall_warning` prints one line to stderr naming how many fibers are blocked and whether
// main has finished. It never gives up on its own: another thread may still signal.
//
// The fatal handler runs on the scheduler's own stack: it may complete or cancel
// computations and signal triggers, but must not suspend (no await, yield or sleep).
//
// If the scheduler cannot suspend an awaiting fiber (out of memory while attaching the
// trigger, or the trigger is being awaited by another fiber at the same time, a misuse), the
// fiber's await returns that exception as its reason, so the error surfaces in the fiber.
//
// Performance (docs/benchmarks.md): yield between two fibers, spawn+finish, and a trigger
// round trip each cost tens of nanoseconds on the reference machine.

#ifndef PICOS_MUX_FIFO_FIFO_H_
#define PICOS_MUX_FIFO_FIFO_H_

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
#include "poller/reactor_kind.h"

namespace picos::mux::fifo {

struct Options : StackfulOptions {
  // When nothing is ready, how long to poll for a wake-up from another thread before going
  // to sleep on a condition variable (0: sleep at once). A short spin turns a cross-thread
  // hand-off into a cache-line transfer instead of a futex wake-up and a context switch,
  // at the price of that much CPU each time the scheduler runs dry. Must not be negative.
  std::chrono::nanoseconds idle_spin = std::chrono::microseconds(20);
  // Spawn runs the child at once ("work first", like Boost.Fiber's launch::dispatch): the
  // spawning fiber goes to the head of the queue and continues as soon as the child suspends
  // or finishes, ahead of every other ready fiber. Fork-join code (a tree of fibers that
  // await their children) then keeps one path of the tree alive instead of every level's
  // fibers, so it needs a few stacks instead of one per pending fiber (docs/schedulers.md).
  // Spawn then suspends the spawner, as any wait does (a spawn inside a catch block included:
  // each fiber keeps its own exception state, docs/hazards.md).
  // false (the default): the child is queued behind the ready fibers, FIFO.
  bool child_first = false;
  // The reactor of the fibers' io waits (Handler::reactor(), poller/reactor_kind.h): kDefault
  // reads PICOS_REACTOR (epoll, io_uring; unset: epoll) when the scheduler starts; kIoUring
  // falls back to epoll, with one line on stderr, where io_uring cannot be used
  // (docs/io.md#choosing-the-reactor).
  ReactorKind reactor = ReactorKind::kDefault;
};

// Runs `main` in `fiber` on the calling thread, and every fiber spawned from it, until all
// have finished. An exception escaping `main` itself is treated like one escaping any fiber:
// it goes to the fatal handler, and by default run_fiber throws it (`run` avoids that by
// capturing main's outcome in a computation). Throws std::invalid_argument for bad options,
// and what the fatal handler throws. May be called on any thread, also from inside another
// scheduler's fiber (the inner run then blocks that fiber's thread until it returns).
void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options = {});

// The scheduler's name, as its errors and warnings give it.
inline constexpr char kSchedulerName[] = "picos::mux::fifo";

// Runs `main()` as the first fiber and returns its result, or rethrows its exception.
// Returns only after every fiber spawned inside has finished. If the scheduler was stopped by
// a fatal error before main finished, throws what the fatal handler threw.
inline constexpr RunEntry<kSchedulerName, Options, &run_fiber> run{};

}  // namespace picos::mux::fifo

#endif  // PICOS_MUX_FIFO_FIFO_H_
