// Copyright 2026 The Picos for C++ Authors.
//
// picos::testing on picos::randos, configured by the environment (see mux/testing/testing.h):
//   PICOS_TESTING_SEED     the seed; 0 or unset: a fresh seed at every run
//   PICOS_TESTING_THREADS  threads (unset: 1)
//   PICOS_TESTING_VCLOCK   1: the virtual clock (unset: 0)
// Every run prints its seed to stderr, so a failing test's log shows it. PICOS_RANDOS_SEED, if
// set, overrides PICOS_TESTING_SEED: `bazel test --test_env=PICOS_RANDOS_SEED=<n> ...`
// replays a run on any of the configurations.

#include "mux/testing/testing.h"

#include <cstdlib>
#include <string>

#include "mux/testing/config.h"
#include "randos/randos.h"

namespace picos::testing {

config::Configuration config::configure() {
  randos::Options& o = options<randos::Options>();
  o.seed = unsigned64("PICOS_TESTING_SEED", 0);
  o.threads = static_cast<int>(integer("PICOS_TESTING_THREADS", 1, 1, 256));
  o.virtual_clock = boolean("PICOS_TESTING_VCLOCK", false);
  o.print_seed = true;
  std::string derived = o.seed == 0 ? "randos_fresh" : "randos_s" + std::to_string(o.seed);
  if (o.threads != 1) derived += "_t" + std::to_string(o.threads);
  if (o.virtual_clock) derived += "_vclock";
  Configuration c;
  c.name = start("randos", {"PICOS_TESTING_SEED", "PICOS_TESTING_THREADS", "PICOS_TESTING_VCLOCK"},
                 derived);
  c.capabilities.parallelism = o.threads;
  // One thread replays a seed exactly (with real timers, up to their timing).
  c.capabilities.deterministic = o.threads == 1;
  c.capabilities.virtual_clock = o.virtual_clock;
  c.capabilities.has_reactor = true;
  c.capabilities.randomized = true;
  return c;
}

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main) {
  randos::Options o = config::options<randos::Options>();
  // Seed 0 makes randos take PICOS_RANDOS_SEED, or a fresh seed.
  const char* env = std::getenv(randos::kSeedEnvVar);
  if (env != nullptr && *env != '\0') o.seed = 0;
  randos::run_fiber(std::move(fiber), std::move(main), o);
}

}  // namespace picos::testing
