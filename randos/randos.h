// Copyright 2026 The Picos for C++ Authors.
//
// randos/randos.h — a randomized scheduler for testing.
//
// `picos::randos::run(main)` runs `main` as the first fiber, like picos::mux::fifo::run, but
// after every scheduling point it picks the next fiber to run uniformly at random among the
// ready ones. Code that silently relies on one particular interleaving (spawned fibers start
// in order, a yield lets "the other" fiber run, a resumed fiber runs next...) fails under it,
// and the seed reproduces the failure.
//
// Behaviour:
//  - Scheduling points: spawn (both the parent and the child go to the ready set), yield,
//    cancel_after, and every await that reaches the scheduler, also one that does not
//    suspend (the trigger was signaled meanwhile, or the fiber is canceled). At each one the
//    current fiber goes back to the ready set and a ready fiber is picked at random (it may
//    be the same one). Not scheduling points, because the core never calls the scheduler for
//    them: `Fiber::current()` (a thread-local read in this port) and awaiting a trigger that
//    is already signaled (Trigger::await returns at once). A fiber resumed because it was
//    canceled gets no priority.
//  - Determinism: the random choices come from a generator seeded with `seed`. With
//    `threads = 1`, and either the virtual clock or no timers, the same seed gives exactly the
//    same interleaving, provided the program itself is deterministic (no other OS thread
//    signals its triggers, no decision depends on real time or addresses, and IO stays
//    between the scheduler's own fibers).
//  - Seeds: `seed = 0` takes the environment variable PICOS_RANDOS_SEED if it is set (a
//    decimal number), else a fresh random nonzero seed. Unless `print_seed` is false, every
//    run prints `picos::randos: seed=<n> (replay with PICOS_RANDOS_SEED=<n>)` to stderr
//    before the first fiber runs, and the seed again when a fatal error stops it.
//  - Threads: `threads = n` runs fibers on the calling thread plus n-1 worker threads that
//    share one mutex-protected ready set; fibers migrate between threads at every scheduling
//    point. Idle threads sleep on a condition variable. With n > 1 the interleaving also
//    depends on the OS, so a seed no longer replays it.
//  - Timers (cancel_after, sleep) live in the scheduler, in one heap. With the real clock
//    they fire when their steady_clock deadline passes.
//  - Virtual clock (`virtual_clock = true`): time is the scheduler's own counter, starting at
//    zero. Each dispatch advances it by `virtual_tick`, and when no fiber is ready or running
//    it jumps straight to the earliest timer, which fires. So `Fiber::sleep(3600.0)` returns
//    at once in real time, and code with timeouts is tested fast and deterministically (as
//    Go's testing/synctest does). The tick keeps a fiber that busy-yields until a timer fires
//    from looping forever; with `virtual_tick = 0` time stands still while any fiber is ready,
//    exactly as in synctest. Caveats: only the scheduler's timers are virtual; real-time
//    code (std::this_thread::sleep_for, steady_clock::now() in a test) is not. Time jumps
//    whenever the scheduler is idle, even if another OS thread is about to signal one of its
//    fibers; with threads > 1 it jumps only when every thread of the scheduler is idle.
//    With the real clock and threads > 1, a timer that may come before every pending one
//    (as the heap's top says: TimerHeap::may_precede) wakes a sleeping thread to plan its
//    sleep again, so it fires on time even while the fiber that armed it computes without
//    suspending.
//  - IO: the scheduler is its own reactor (Handler::reactor(), picos/reactor.h): //io's waits
//    on its fibers register in its epoll set (poller/epoll_poller.h), not with io's
//    background epoll thread. While fibers are ready, a thread looks at the epoll set
//    without blocking every 16 dispatches. When none is ready and fibers wait for
//    descriptors, it polls first: with the real clock it sleeps in epoll until a descriptor
//    is ready, the next timer is due, or another thread wakes a fiber; with the virtual
//    clock it looks without blocking if a timer is pending, and time jumps to the timer only
//    if no descriptor was ready (with no timer pending it sleeps in epoll). So IO between
//    the scheduler's own fibers (pipes, socketpairs, loopback sockets: ready as soon as the
//    writer's call returns) beats any timer, and a writer that sleeps 20 ms then writes
//    wakes a reader after 20 ms of virtual time, not at the reader's deadline. IO with the
//    outside world (another process, a peer that is not a fiber here, a descriptor written
//    by another OS thread) counts only if it is ready when the scheduler looks: with a
//    timer pending, virtual time does not wait for it.
//  - Fibers may be woken from any thread; the resume action pushes the fiber into the ready
//    set and wakes a sleeping thread.
//
// Fatal errors, blocked fibers and stacks: as picos::mux::fifo (see mux/fifo/fifo.h). An
// exception escaping a spawned fiber's main goes to `fatal_exn_handler`; by default the
// scheduler stops and run/run_fiber rethrow it, abandoning (never freeing) unfinished fibers.
// If main has returned and the remaining fibers stay blocked with no timer pending, the
// scheduler keeps waiting for another thread to wake them and prints one warning after
// `stall_warning` (with the virtual clock this is a deadlock inside the scheduler, but
// another thread could still signal, so it too only warns).
//
// Several randos schedulers may run at once, or nested: each `run` owns its whole state.
//
// Performance: every operation is a scheduling point and takes the scheduler's mutex, so
// expect a few hundred nanoseconds per yield; it is meant for tests, not production. While
// fibers wait for IO, every 16th dispatch adds one epoll_wait (zero timeout). The epoll set
// is opened at the first IO wait (two descriptors, closed when `run` returns).

#ifndef PICOS_RANDOS_RANDOS_H_
#define PICOS_RANDOS_RANDOS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
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

namespace picos::randos {

// The environment variable read when Options::seed is 0.
inline constexpr const char* kSeedEnvVar = "PICOS_RANDOS_SEED";

// The most threads Options::threads may ask for.
inline constexpr int kMaxThreads = 1024;

// quota: validated as on every stackful scheduler (it must be positive: "picos::randos: quota
// must be positive"), otherwise ignored (every scheduling point is a random choice anyway).
struct Options : mux::StackfulOptions {
  // The seed of the random choices. 0: take PICOS_RANDOS_SEED if set, else a fresh random
  // (nonzero) seed. Throws std::invalid_argument if PICOS_RANDOS_SEED is not a number.
  std::uint64_t seed = 0;
  // Threads that run fibers: the caller plus threads-1 workers. From 1 to kMaxThreads:
  // run/run_fiber throw std::invalid_argument ("picos::randos: threads must be >= 1",
  // "...: threads must be at most 1024 (got 1000000)") before any thread is started.
  int threads = 1;
  // Use the virtual clock described above instead of std::chrono::steady_clock.
  bool virtual_clock = false;
  // Virtual time consumed by each dispatch (virtual clock only). Must not be negative.
  std::chrono::nanoseconds virtual_tick = std::chrono::microseconds(1);
  // Print the seed in use to stderr at the start of the run (and when a fatal error stops it).
  bool print_seed = true;
  // If not null, receives the seed in use before the first fiber runs.
  std::uint64_t* seed_out = nullptr;
};

// The seed a run with `options` would use: options.seed if nonzero, else PICOS_RANDOS_SEED
// if set, else a fresh random nonzero seed (a different one at each call). Throws
// std::invalid_argument if PICOS_RANDOS_SEED is set but not a decimal number.
std::uint64_t resolve_seed(const Options& options);

// Runs `main` in `fiber`, and every fiber spawned from it, until all have finished. Returns
// normally even if `main` throws: put the outcome in the fiber's computation (as `run` does).
// Throws std::invalid_argument for bad options, and what the fatal handler throws. May be
// called on any thread, also from inside another scheduler's fiber.
void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options = {});

// The scheduler's name, as its errors and warnings give it.
inline constexpr char kSchedulerName[] = "picos::randos";

// Runs `main()` as the first fiber and returns its result, or rethrows its exception.
// Returns only after every fiber spawned inside has finished.
inline constexpr mux::RunEntry<kSchedulerName, Options, &run_fiber> run{};

}  // namespace picos::randos

#endif  // PICOS_RANDOS_RANDOS_H_
