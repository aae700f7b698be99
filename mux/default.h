// Copyright 2026 The Picos for C++ Authors.
//
// mux/default.h — "the scheduler of this binary", chosen when the binary is built.
//
// A binary calls picos::mux::run(main, options) and gets the scheduler of the //mux library it
// links. Two ways to pick it:
//   * per binary: depend on //mux:default_fifo, //mux:default_multififo, //mux:default_libevent,
//     //mux:default_thread or //mux:default_randos (exactly one per binary);
//   * build-wide: depend on //mux:default and set --//mux:scheduler=<name> (from another
//     workspace: --@picos_cpp//mux:scheduler=<name>); default multififo. It applies to every
//     binary of that build.
// The schedulers:
//   fifo       picos::mux::fifo, one thread
//   multififo  picos::mux::multififo, work stealing over `threads` workers (0: one per CPU)
//   libevent   picos::mux::libevent, a libevent loop of its own
//   thread     picos::mux::thread, one OS thread per fiber
//   randos     picos::randos, random interleavings (seed printed, PICOS_RANDOS_SEED replays)
// A binary that needs one scheduler's own options or API depends on that scheduler directly
// instead (//mux/fifo, ...).

#ifndef PICOS_MUX_DEFAULT_H_
#define PICOS_MUX_DEFAULT_H_

#include <cstddef>
#include <exception>
#include <functional>
#include <stdexcept>
#include <type_traits>

#include "absl/functional/any_invocable.h"
#include "mux/common/run.h"
#include "picos/computation.h"
#include "picos/fiber.h"

namespace picos::mux {

// The options every scheduler understands. run/run_fiber map them onto the linked scheduler's
// own Options. A field left at its default keeps that scheduler's default; a scheduler that has
// no use for a field ignores it (noted per field), so the same code runs on every scheduler.
struct Options {
  // Threads that run fibers, the caller included (0: the scheduler's default). multififo
  // (default: one per CPU) and randos (default: 1). fifo and libevent run every fiber on the
  // calling thread and thread gives each fiber its own; they ignore it. Negative values and
  // values above 1024 (multififo::kMaxThreads, randos::kMaxThreads) are rejected
  // (std::invalid_argument) by the schedulers that use it.
  int threads = 0;
  // Operations a fiber may perform without suspending before it is made to yield (0: the
  // scheduler's default, no limit). fifo, multififo and libevent; randos (which switches at
  // every scheduling point anyway) and thread ignore it.
  int quota = 0;
  // Stack size of every fiber in bytes (0: the scheduler's default,
  // picos::mux::context::kDefaultStackSize). thread ignores it (its fibers are OS threads).
  std::size_t stack_size = 0;
  // Receives an exception that escaped a spawned fiber's main. Returning continues
  // scheduling; throwing stops the scheduler. Empty: the scheduler's default (stop and
  // propagate; thread: record it and throw it from run once every fiber has finished).
  std::function<void(std::exception_ptr)> fatal_exn_handler;
  // Start `run`'s main fiber with cancelation propagation forbidden.
  bool forbid = false;
};

// The name of the scheduler this binary was built with, e.g. "multififo".
const char* default_scheduler_name();

// Runs `main` in `fiber` on this binary's scheduler with `options`, until every fiber spawned
// inside has finished.
void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options = {});

// The scheduler's name, as its errors and warnings give it.
inline constexpr char kSchedulerName[] = "picos::mux";

// Runs `main()` as the first fiber on this binary's scheduler and returns its result or
// rethrows its exception, once every fiber spawned inside has finished.
inline constexpr RunEntry<kSchedulerName, Options, &run_fiber> run{};

}  // namespace picos::mux

#endif  // PICOS_MUX_DEFAULT_H_
