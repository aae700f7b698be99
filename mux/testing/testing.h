// Copyright 2026 The Picos for C++ Authors.
//
// mux/testing/testing.h — run a test body on "the scheduler of this target".
//
// The conformance matrix (bazel/picos_test.bzl) builds one test source once per scheduler
// configuration and links it with the testing library of that configuration's scheduler; the
// configuration's settings reach the library through the environment of the test (the `env`
// of the generated cc_test), so the same source proves a library on every scheduler. The
// configurations (fifo, fifo_q1, fifo_cf, multififo with 1/2/4 workers and 2 with child_first,
// randos with fixed seeds, a fresh seed, 2 threads and a virtual clock, libevent, thread, and
// nosched -- no scheduler: the test thread is an implicit fiber) are listed in SCHEDULERS in
// bazel/picos_test.bzl: name -> (library, environment); EXTRA_SCHEDULERS there are the
// columns a test asks for (fifo and multififo on io_uring, for //io).
//
// The environment variables the testing libraries read at startup (mux/testing/config.h):
//
//   PICOS_TESTING_CONFIG      every library: the configuration's name, returned by
//                             scheduler_name(); it must be the library's scheduler or start
//                             with it and "_" ("fifo_q1" for the fifo library). Unset: a name
//                             derived from the settings below.
//   PICOS_TESTING_QUOTA       fifo: Options::quota, an integer >= 1 (unset: no quota).
//   PICOS_TESTING_CHILD_FIRST fifo, multififo: Options::child_first, 0 or 1 (unset: 0).
//   PICOS_TESTING_IO_URING    fifo, multififo: 1: Options::reactor = kIoUring, 0 or unset:
//                             kDefault (PICOS_REACTOR, else epoll). The columns fifo_uring
//                             and multififo_t2_uring (EXTRA_SCHEDULERS, //io's tests only).
//   PICOS_TESTING_THREADS     multififo: workers, 1..256 (unset: 1); randos: threads, 1..256
//                             (unset: 1).
//   PICOS_TESTING_SEED        randos: the seed, an unsigned decimal; 0 or unset: a fresh seed
//                             at every run. Every randos run prints its seed to stderr, and
//                             PICOS_RANDOS_SEED, if set, overrides this one (a replay:
//                             `bazel test --test_env=PICOS_RANDOS_SEED=<n> //pkg:t_randos_s1`).
//   PICOS_TESTING_VCLOCK      randos: Options::virtual_clock, 0 or 1 (unset: 0).
//
// A value that does not parse or is out of range, or a PICOS_TESTING_* variable the linked
// library does not read, prints a message and aborts the test binary: a configuration never
// silently falls back to another.

#ifndef PICOS_MUX_TESTING_TESTING_H_
#define PICOS_MUX_TESTING_TESTING_H_

#include <stdexcept>
#include <type_traits>

#include "absl/functional/any_invocable.h"
#include "picos/computation.h"
#include "picos/fiber.h"

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

// The configuration this binary runs, e.g. "fifo_q1": for messages. Ask capabilities(),
// not the name, what a test may assume.
const char* scheduler_name();

// What a test may assume of the configuration it runs on.
struct Capabilities {
  // How many threads may run fibers of one `run` at the same time (1 for fifo; a large number
  // where every fiber is a thread).
  int parallelism = 1;
  // Spawned fibers are OS threads (thread; nosched): fibers are expensive, so suites pick
  // smaller sizes, and how fibers overlap is up to the OS, not to the scheduling points.
  bool fibers_are_threads = false;
  // One thread runs every fiber, in an order fixed by the program (and, for randos, by its
  // printed seed): a rerun replays the same interleaving, real time and I/O readiness aside.
  bool deterministic = false;
  // Timers run on a virtual clock: time advances only when every fiber waits, so sleeping
  // costs no real time (randos_vclock).
  bool virtual_clock = false;
  // Fibers' I/O waits and timers are registered with the scheduler's event loop (epoll,
  // libevent), not done by blocking an OS thread.
  bool has_reactor = false;
  // The scheduler picks among the runnable fibers at random (randos); the seed is printed to
  // stderr at every run.
  bool randomized = false;
};

// This configuration's capabilities (read once, at startup, with its settings).
const Capabilities& capabilities();

// capabilities().parallelism.
inline int parallelism() { return capabilities().parallelism; }

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
