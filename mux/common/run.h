// Copyright 2026 The Picos for C++ Authors.
//
// mux/common/run.h — the `run` entry point, written once for every scheduler.
//
// Every scheduler exposes
//
//   void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& = {});
//   template <typename F> std::invoke_result_t<F&> run(F&& main, const Options& = {});
//
// and `run` is always the same: main runs as the first fiber, in a Computation that captures
// its result or exception; when run_fiber returns, `run` moves the result out (so a
// move-only result works) or rethrows. `run_entry` is that, given the scheduler's run_fiber,
// and a scheduler's `run` is a `RunEntry` object naming its run_fiber:
//
//   inline constexpr char kSchedulerName[] = "picos::mux::fifo";
//   inline constexpr RunEntry<kSchedulerName, Options, &run_fiber> run{};
//
// so that `fifo::run(main)` and `fifo::run(main, options)` call run_entry. `main` is taken by
// reference and called in place: a move-only callable works too.

#ifndef PICOS_MUX_COMMON_RUN_H_
#define PICOS_MUX_COMMON_RUN_H_

#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "picos/computation.h"
#include "picos/fiber.h"

namespace picos::mux {

// Runs `main()` as the first fiber through `run_fiber(fiber, body, options)` and returns its
// result or rethrows its exception. Throws std::logic_error naming `scheduler` if run_fiber
// returned while main had not finished (a scheduler bug, never expected).
template <typename RunFiber, typename F, typename O>
std::invoke_result_t<F&> run_entry(const char* scheduler, RunFiber&& run_fiber, F&& main,
                                   const O& options) {
  using R = std::invoke_result_t<F&>;
  Computation<R> c(Mode::kLifo);
  run_fiber(
      Fiber::create(c, options.forbid), [&c, &main] { c.capture(main); }, options);
  if (c.is_running()) {
    throw std::logic_error(std::string(scheduler) + "::run: main did not finish");
  }
  return c.take();
}

// A scheduler's `run` (see the top of this file): `run(main, options)` runs `main()` as the
// first fiber through `kRunFiber` and returns its result or rethrows its exception, once
// every fiber spawned inside has finished.
template <const char* kSchedulerName, typename Options,
          void (*kRunFiber)(FiberRef, absl::AnyInvocable<void()>, const Options&)>
struct RunEntry {
  template <typename F>
  std::invoke_result_t<F&> operator()(F&& main, const Options& options = {}) const {
    return run_entry(kSchedulerName, kRunFiber, std::forward<F>(main), options);
  }
};

}  // namespace picos::mux

#endif  // PICOS_MUX_COMMON_RUN_H_
