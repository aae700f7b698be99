// Copyright 2026 The Picos for C++ Authors.
//
// mux/default.h — "the scheduler of this binary", chosen at build time.
//
// A binary that depends on //mux:default calls picos::mux::run(main) and gets the scheduler
// selected by the build flag --//mux:scheduler=<name> (default: multififo):
//   fifo       picos::mux::fifo, one thread
//   multififo  picos::mux::multififo, one worker per CPU
//   libevent   picos::mux::libevent, a libevent loop of its own
//   thread     picos::mux::thread, one OS thread per fiber
//   randos     picos::randos, random interleavings (seed printed, PICOS_RANDOS_SEED replays)
// `bazel run --//mux:scheduler=fifo //my:binary` switches without touching code. A binary
// that wants one particular scheduler depends on it directly instead (//mux/fifo, ...).

#ifndef PICOS_MUX_DEFAULT_H_
#define PICOS_MUX_DEFAULT_H_

#include <stdexcept>
#include <type_traits>

#include "picos/computation.h"
#include "picos/fiber.h"
#include "picos/internal/unique_function.h"

namespace picos::mux {

// The name of the scheduler this binary was built with, e.g. "multififo".
const char* default_scheduler_name();

// Runs `main` in `fiber` on the build-selected scheduler with its default options.
void run_fiber(FiberRef fiber, internal::UniqueFunction main);

// Runs `main()` as the first fiber on the build-selected scheduler and returns its result or
// rethrows its exception, once every fiber spawned inside has finished.
template <typename F>
std::invoke_result_t<F&> run(F&& main) {
  using R = std::invoke_result_t<F&>;
  Computation<R> c(Mode::kLifo);
  run_fiber(Fiber::create(c), [&c, &main] { c.capture(main); });
  if (c.is_running()) throw std::logic_error("picos::mux::run: main did not finish");
  return c.take();
}

}  // namespace picos::mux

#endif  // PICOS_MUX_DEFAULT_H_
