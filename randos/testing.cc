// Copyright 2026 The Picos for C++ Authors.
//
// picos::testing on picos::randos, one library per configuration (see randos/BUILD):
//   PICOS_RANDOS_TESTING_NAME     scheduler_name(), e.g. "randos_s1"
//   PICOS_RANDOS_TESTING_SEED     the fixed seed; 0 (the default): a fresh seed at every run
//   PICOS_RANDOS_TESTING_THREADS  threads (default 1)
//   PICOS_RANDOS_TESTING_VCLOCK   1: the virtual clock (default 0)
// Every run prints its seed to stderr, so a failing test's log shows it. PICOS_RANDOS_SEED, if
// set, overrides the compiled-in seed: `bazel test --test_env=PICOS_RANDOS_SEED=<n> ...`
// replays a run on any of the configurations.

#include "mux/testing/testing.h"

#include <cstdlib>

#include "randos/randos.h"

#ifndef PICOS_RANDOS_TESTING_NAME
#error "define PICOS_RANDOS_TESTING_NAME"
#endif
#ifndef PICOS_RANDOS_TESTING_SEED
#define PICOS_RANDOS_TESTING_SEED 0
#endif
#ifndef PICOS_RANDOS_TESTING_THREADS
#define PICOS_RANDOS_TESTING_THREADS 1
#endif
#ifndef PICOS_RANDOS_TESTING_VCLOCK
#define PICOS_RANDOS_TESTING_VCLOCK 0
#endif

namespace picos::testing {

const char* scheduler_name() { return PICOS_RANDOS_TESTING_NAME; }

int parallelism() { return PICOS_RANDOS_TESTING_THREADS; }

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main) {
  randos::Options options;
  // Seed 0 makes randos take PICOS_RANDOS_SEED, or a fresh seed.
  const char* env = std::getenv(randos::kSeedEnvVar);
  options.seed = (env != nullptr && *env != '\0') ? 0 : PICOS_RANDOS_TESTING_SEED;
  options.threads = PICOS_RANDOS_TESTING_THREADS;
  options.virtual_clock = PICOS_RANDOS_TESTING_VCLOCK != 0;
  options.print_seed = true;
  randos::run_fiber(std::move(fiber), std::move(main), options);
}

}  // namespace picos::testing
