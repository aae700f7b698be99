// Copyright 2026 The Picos for C++ Authors.
//
// mux/multififo/multififo.h — a multi-threaded scheduler: per-worker FIFO queues with work
// stealing.
//
// `picos::mux::multififo::run(main, options)` runs `main` as the first fiber on a pool of
// `threads` workers: the calling thread plus threads - 1 new ones, started by `run` and
// joined before it returns. `run` returns main's value (or rethrows its exception) once main
// and every fiber spawned inside have finished.
//
// Behaviour:
//  - Each worker has its own FIFO ready queue. A fiber that spawns, yields or wakes another
//    puts it on its own worker's queue; a worker that runs dry steals the oldest ready fiber
//    of another worker, so fibers migrate between threads. Code running in a fiber must not
//    assume it stays on one OS thread (thread_local values can change across any suspension).
//  - A fiber resumed because it was canceled goes to the head of a queue.
//  - A yield with no other fiber queued on its worker returns at once (no switch).
//  - Idle workers look at the queues (and the reactor) for `idle_spin`, then sleep on a
//    condition variable (one of them in the reactor while fibers wait for descriptors) and
//    are woken when work appears that they could take (a queue holding more than the one
//    fiber its worker is about to run, or a wake-up from a thread that is not a worker).
//  - Timers (cancel_after, sleep) are one heap shared by the workers, under a spin lock: no
//    thread per timer. An idle worker sleeps until the earliest deadline; busy workers check
//    for due timers every 64 dispatches.
//  - `quota`, `fatal_exn_handler`, `stack_size`, `forbid` and `stall_warning` mean what they
//    mean for picos::mux::fifo. A fatal error stops every worker; unfinished fibers are
//    abandoned (kept, never freed, so a late signal stays harmless).
//  - No static mutable state: several runs may be active at once in one process.
//
// Costs (docs/benchmarks.md): a yield or trigger hand-off within one worker costs about what
// it costs on fifo plus an uncontended spin lock; stealing and cross-worker wake-ups cost a
// futex wake-up (microseconds) when the target worker sleeps.

#ifndef PICOS_MUX_MULTIFIFO_MULTIFIFO_H_
#define PICOS_MUX_MULTIFIFO_MULTIFIFO_H_

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

namespace picos::mux::multififo {

// The most workers Options::threads may ask for.
inline constexpr int kMaxThreads = 1024;

struct Options : StackfulOptions {
  // Number of workers, the calling thread included. 0 (the default) means
  // std::thread::hardware_concurrency(), capped at kMaxThreads. Must not be negative nor
  // above kMaxThreads: run/run_fiber throw std::invalid_argument ("picos::mux::multififo:
  // threads must not be negative", "...: threads must be at most 1024 (got 1000000)") before
  // anything is allocated or any thread started.
  int threads = 0;
  // When a worker finds nothing to run or steal, how long it keeps looking at the other
  // workers' queues (and, while fibers wait for descriptors, at the reactor, every 16th
  // look) before going to sleep (0: sleep at once; ignored with one worker). A futex
  // wake-up costs tens of microseconds, far more than the fibers of fork-join code; the
  // price is that much CPU each time a worker runs dry. Must not be negative.
  std::chrono::nanoseconds idle_spin = std::chrono::microseconds(50);
  // Spawn runs the child at once on the spawning worker ("work first"): the spawner goes to
  // the head of that worker's queue, where it continues as soon as the child suspends or
  // finishes, unless an idle worker steals it first. Fork-join code then keeps one path of
  // its tree alive per worker instead of every pending fiber, and idle workers steal
  // continuations of the spawners. false (the default): the child is queued.
  bool child_first = false;
  // The reactor of the fibers' io waits (Handler::reactor(), poller/reactor_kind.h): kDefault
  // reads PICOS_REACTOR (epoll, io_uring; unset: epoll) when the scheduler starts; kIoUring
  // falls back to epoll, with one line on stderr, where io_uring cannot be used
  // (docs/io.md#choosing-the-reactor).
  ReactorKind reactor = ReactorKind::kDefault;
};

// The number of workers `options` asks for (resolving 0 to the CPU count, at most
// kMaxThreads). Throws std::invalid_argument for a negative count or one above kMaxThreads.
int resolved_threads(const Options& options);

// Runs `main` in `fiber` on a pool of workers (the calling thread is one of them) until it
// and every fiber spawned from it have finished. Throws std::invalid_argument for bad
// options, and what the fatal handler throws.
void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options = {});

// The scheduler's name, as its errors and warnings give it.
inline constexpr char kSchedulerName[] = "picos::mux::multififo";

// Runs `main()` as the first fiber and returns its result, or rethrows its exception.
inline constexpr RunEntry<kSchedulerName, Options, &run_fiber> run{};

}  // namespace picos::mux::multififo

#endif  // PICOS_MUX_MULTIFIFO_MULTIFIFO_H_
