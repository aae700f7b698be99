// Copyright 2026 The Picos for C++ Authors.
// picos::testing on picos::mux::fifo, configured by the environment (see testing.h):
// PICOS_TESTING_QUOTA (Options::quota; unset: none), PICOS_TESTING_CHILD_FIRST
// (Options::child_first), PICOS_TESTING_IO_URING (1: Options::reactor = kIoUring; unset or 0:
// kDefault, i.e. PICOS_REACTOR, else epoll).

#include "mux/fifo/fifo.h"

#include <climits>
#include <string>

#include "mux/testing/config.h"
#include "mux/testing/testing.h"

namespace picos::testing {

config::Configuration config::configure() {
  mux::fifo::Options& o = options<mux::fifo::Options>();
  o.quota = static_cast<int>(integer("PICOS_TESTING_QUOTA", INT_MAX, 1, INT_MAX));
  o.child_first = boolean("PICOS_TESTING_CHILD_FIRST", false);
  const bool io_uring = boolean("PICOS_TESTING_IO_URING", false);
  if (io_uring) o.reactor = ReactorKind::kIoUring;
  std::string derived = "fifo";
  if (o.quota != INT_MAX) derived += "_q" + std::to_string(o.quota);
  if (o.child_first) derived += "_cf";
  if (io_uring) derived += "_uring";
  Configuration c;
  c.name =
      start("fifo", {"PICOS_TESTING_QUOTA", "PICOS_TESTING_CHILD_FIRST", "PICOS_TESTING_IO_URING"},
            derived);
  c.capabilities.deterministic = true;
  c.capabilities.has_reactor = true;
  return c;
}

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main) {
  mux::fifo::run_fiber(std::move(fiber), std::move(main), config::options<mux::fifo::Options>());
}

}  // namespace picos::testing
