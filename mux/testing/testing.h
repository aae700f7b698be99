// Copyright 2026 The Picos for C++ Authors.
//
// mux/testing/testing.h — run a test body on "the scheduler of this target".
//
// The conformance matrix (bazel/picos_test.bzl) builds one test source once per scheduler
// configuration, linking a different implementation of this header each time. A test calls
// `picos::testing::run(main)`; which scheduler runs it is decided by the target, so the same
// source proves a library on every scheduler. The configurations (fifo, fifo_q1, fifo_cf,
// multififo with 1/2/4 workers and 2 with child_first, randos with fixed seeds, a fresh seed, 2 threads and a virtual clock,
// libevent, thread, and nosched -- no scheduler: the test thread is an implicit fiber) are
// listed in SCHEDULERS in bazel/picos_test.bzl; each links one implementation of this
// header (mux/testing/*.cc or a testing.cc beside its scheduler).

#ifndef PICOS_MUX_TESTING_TESTING_H_
#define PICOS_MUX_TESTING_TESTING_H_

#include <stdexcept>
#include <type_traits>

#include "picos/computation.h"
#include "picos/fiber.h"
#include "absl/functional/any_invocable.h"

namespace picos::testing {

// True in -fsanitize=thread builds, where every fiber costs ~0.4 ms and several memory maps
// (TSan's per-fiber state): tests scale their largest loops down with `scaled`.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif
constexpr int scaled(int n) { return kThreadSanitizer ? (n / 10 > 0 ? n / 10 : 1) : n; }

// True under any sanitizer (ASan, TSan): per-fiber sanitizer state (ASan's fake stacks,
// TSan's fiber contexts and shadow) makes tens of thousands of live fibers impractical.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitizer = true;
#else
inline constexpr bool kSanitizer = false;
#endif

// The configuration this binary was built for, e.g. "fifo".
const char* scheduler_name();

// How many threads may run fibers of one `run` at the same time (1 for fifo and nosched's
// main thread; nosched's spawned fibers are threads, so it reports a large number).
int parallelism();

// Runs `main` in `fiber` on this configuration's scheduler; returns when main (and, where the
// scheduler guarantees it, every fiber spawned inside) has finished.
void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main);

// Runs `main()` as a fiber on this configuration's scheduler and returns its result or
// rethrows its exception.
template <typename F>
std::invoke_result_t<F&> run(F&& main, bool forbid = false) {
  using R = std::invoke_result_t<F&>;
  Computation<R> c(Mode::kLifo);
  run_fiber(Fiber::create(c, forbid), [&c, &main] { c.capture(main); });
  if (c.is_running()) throw std::logic_error("picos::testing::run: main did not finish");
  return c.take();
}

}  // namespace picos::testing

#endif  // PICOS_MUX_TESTING_TESTING_H_
