// Copyright 2026 The Picos for C++ Authors.
//
// mux/thread/thread.h — one OS thread per fiber.
//
// `picos::mux::thread::run(main)` runs `main` as the first fiber on the calling thread; every
// fiber spawned inside (transitively) gets an OS thread of its own, with this scheduler's
// handler installed on it. `run` returns main's value (or rethrows its exception) once main
// and every fiber spawned inside have finished. It is the baseline the other schedulers are
// measured against, and a way to run libraries written against picos on plain threads while
// still knowing when everything they started has finished (the no-scheduler default only
// starts detached threads).
//
// Behaviour:
//  - await blocks the fiber's OS thread on a mutex and condition variable until the trigger
//    is signaled (from any thread); yield is std::this_thread::yield. Fibers run truly in
//    parallel, so anything they share needs the usual synchronisation.
//  - Timers (cancel_after, sleep) live in one heap per `run`, served by one timer thread
//    that the run starts on first use and stops (joins) before returning.
//  - Every spawned thread is joined: a finishing thread joins the one that finished before
//    it, and `run` joins the last, so threads never pile up unjoined, and when `run` returns
//    no thread it started is still running (thread-local destructors included).
//  - Several runs may be active at once, on different threads or nested in a fiber: each
//    `run` owns its whole state; there is no static mutable state.
//
// Which thread calls what: `main` runs on the thread that called run/run_fiber; a spawned
// fiber's main runs on its own new thread; trigger actions (and so resume wake-ups) run on
// whatever thread signals; timers fire on the run's timer thread, which has no handler
// installed (it is not a fiber).
//
// Fatal errors: an exception escaping the main of a fiber (main's included) is passed to
// `fatal_exn_handler` on that fiber's thread, while the fiber is still current there. If the
// handler returns, nothing else happens. If it throws, or there is no handler (the default),
// the first such exception is recorded (later ones are dropped) and run/run_fiber throw it
// once every fiber has finished. Threads cannot be abandoned: the other fibers keep running,
// and `run` still waits for them (cancel them, e.g. from the handler, to make them finish).
//
// Blocked fibers: a fiber that never finishes keeps `run` waiting forever. If main has
// finished and fibers are still alive after `stall_warning`, one line is printed to stderr
// saying how many are alive and how many of them are blocked in await. A thread cannot tell
// a stuck fiber from a busy or sleeping one, so the line is a hint, not a diagnosis.
//
// Costs (//bench:schedulers_benchmark): everything is priced by the OS. Spawn+finish is
// one thread creation and one join, about what a bare std::thread create+join costs (tens of
// microseconds); a blocking await is a futex sleep plus a wake-up from the signaler; yield
// is one sched_yield system call. Each live fiber holds an OS thread with the default stack
// (8 MiB of address space, a few pages resident): thousands of fibers are fine, millions are
// not. A finishing thread also waits for the thread that finished before it to exit (the
// join chain above), which costs it nothing it could have used.

#ifndef PICOS_MUX_THREAD_THREAD_H_
#define PICOS_MUX_THREAD_THREAD_H_

#include <chrono>
#include <exception>
#include <functional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "mux/common/options.h"
#include "mux/common/run.h"
#include "picos/computation.h"
#include "picos/fiber.h"

namespace picos::mux::thread {

// The common options (mux/common/options.h), with two differences a thread per fiber makes:
// fatal_exn_handler's calls are serialised but may come from any fiber's thread, and a
// returning or throwing handler stops nothing (every fiber is an OS thread that runs to its
// end); what it throws (the escaped exception when it is empty) is recorded, the first one
// winning, and run/run_fiber throw it once every fiber has finished. stall_warning is how
// long fibers may stay alive after main has finished before one warning is printed.
struct Options : CommonOptions {};

// Runs `main` in `fiber` on the calling thread, and every fiber spawned from it, each on its
// own thread, until all have finished and all their threads are joined. An exception
// escaping `main` is a fatal error like one escaping any fiber (see "Fatal errors"): put the
// outcome in the fiber's computation instead (as `run` does). Throws std::invalid_argument
// for a null fiber or empty main, and the recorded fatal error if there is one. May be
// called on any thread, also from inside another scheduler's fiber (that fiber's thread then
// blocks until this returns).
void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options = {});

// The scheduler's name, as its errors and warnings give it.
inline constexpr char kSchedulerName[] = "picos::mux::thread";

// Runs `main()` as the first fiber and returns its result, or rethrows its exception.
// Returns only after every fiber spawned inside has finished. If a fatal error was recorded,
// throws it instead.
inline constexpr RunEntry<kSchedulerName, Options, &run_fiber> run{};

}  // namespace picos::mux::thread

#endif  // PICOS_MUX_THREAD_THREAD_H_
