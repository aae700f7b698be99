// Copyright 2026 The Picos for C++ Authors.
//
// mux/testing/lifo/lifo.h — a single-threaded LIFO scheduler, for tests only.
//
// The worked example of docs/schedulers.md ("Writing a scheduler"): a whole scheduler written
// against the kernel (//mux/common) in one short file, run as a column of the conformance
// matrix (picos_lifo). Its policy is the opposite of fifo's where FIFO order is easy to rely
// on by accident: a newly spawned or newly woken fiber runs before the fibers that were ready
// already (most recent first, like Go's runnext); a fiber that yields goes behind all of them.
// Code that passes on fifo only because fibers run in the order they became ready fails here.
//
// Otherwise it behaves like fifo without its knobs: one thread (the caller's), `quota`,
// timers in the scheduler, wake-ups from any thread, its own epoll set as the reactor of
// //io, the fatal-error policy and the stall warning of mux/common. Not for production:
// testonly, and nothing tunes it.

#ifndef PICOS_MUX_TESTING_LIFO_LIFO_H_
#define PICOS_MUX_TESTING_LIFO_LIFO_H_

#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "mux/common/options.h"
#include "mux/common/run.h"
#include "picos/fiber.h"

namespace picos::mux::lifo {

// The common options only (fatal_exn_handler, forbid, stall_warning, quota, stack_size).
struct Options : StackfulOptions {};

// Runs `main` in `fiber` on the calling thread, and every fiber spawned from it, until all
// have finished; like fifo::run_fiber.
void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options = {});

// The scheduler's name, as its errors and warnings give it.
inline constexpr char kSchedulerName[] = "picos::mux::lifo";

// Runs `main()` as the first fiber and returns its result, or rethrows its exception.
inline constexpr RunEntry<kSchedulerName, Options, &run_fiber> run{};

}  // namespace picos::mux::lifo

#endif  // PICOS_MUX_TESTING_LIFO_LIFO_H_
