// Copyright 2026 The Picos for C++ Authors.
// picos::testing on picos::mux::multififo, configured by the environment (see testing.h):
// PICOS_TESTING_THREADS workers (unset: 1), PICOS_TESTING_CHILD_FIRST (Options::child_first),
// PICOS_TESTING_IO_URING (1: Options::reactor = kIoUring; unset or 0: kDefault, i.e.
// PICOS_REACTOR, else epoll).

#include "mux/testing/testing.h"

#include <string>

#include "mux/multififo/multififo.h"
#include "mux/testing/config.h"

namespace picos::testing {

config::Configuration config::configure() {
  mux::multififo::Options& o = options<mux::multififo::Options>();
  o.threads = static_cast<int>(integer("PICOS_TESTING_THREADS", 1, 1, 256));
  o.child_first = boolean("PICOS_TESTING_CHILD_FIRST", false);
  const bool io_uring = boolean("PICOS_TESTING_IO_URING", false);
  if (io_uring) o.reactor = ReactorKind::kIoUring;
  std::string derived = "multififo_t" + std::to_string(o.threads);
  if (o.child_first) derived += "_cf";
  if (io_uring) derived += "_uring";
  Configuration c;
  c.name = start("multififo",
                 {"PICOS_TESTING_THREADS", "PICOS_TESTING_CHILD_FIRST", "PICOS_TESTING_IO_URING"},
                 derived);
  c.capabilities.parallelism = o.threads;
  c.capabilities.deterministic = o.threads == 1;
  c.capabilities.has_reactor = true;
  return c;
}

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main) {
  mux::multififo::run_fiber(std::move(fiber), std::move(main),
                            config::options<mux::multififo::Options>());
}

}  // namespace picos::testing
