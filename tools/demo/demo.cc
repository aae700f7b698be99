// Copyright 2026 The Picos for C++ Authors.
//
// The demo: a ring of fibers on the FIFO scheduler passing a token around through triggers,
// then a sleeping fiber canceled by a timeout. Prints what it did and how long it took.
//
//   bazel run -c opt //tools/demo -- [--fibers=N] [--laps=N]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "mux/fifo/fifo.h"
#include "picos/picos.h"

namespace {

struct TimedOut : std::runtime_error {
  TimedOut() : std::runtime_error("timed out") {}
};

long flag(int argc, char** argv, const char* name, long def) {
  std::size_t n = std::strlen(name);
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0) {
      std::printf("usage: demo [--fibers=N (default 100000)] [--laps=N (default 10)]\n");
      std::exit(0);
    }
    if (std::strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') {
      char* end = nullptr;
      long v = std::strtol(argv[i] + n + 1, &end, 10);
      if (*end != '\0' || v <= 0) {
        std::fprintf(stderr, "demo: %s needs a positive integer, got '%s'\n", name, argv[i] + n + 1);
        std::exit(2);
      }
      return v;
    }
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  const long fibers = flag(argc, argv, "--fibers", 100000);
  const long laps = flag(argc, argv, "--laps", 10);
  using Clock = std::chrono::steady_clock;

  // 1. The ring: fiber i waits on its trigger, then wakes fiber i+1.
  auto t0 = Clock::now();
  long handoffs = picos::mux::fifo::run([&] {
    std::vector<picos::Trigger> box(static_cast<std::size_t>(fibers));
    picos::Computation<void> all_done;
    long remaining = fibers, count = 0;
    for (long i = 0; i < fibers; ++i) {
      picos::Fiber::spawn(picos::Fiber::create(picos::PackedComputation()), [&, i] {
        auto me = static_cast<std::size_t>(i);
        auto next = static_cast<std::size_t>((i + 1) % fibers);
        for (long lap = 0; lap < laps; ++lap) {
          if (auto reason = box[me].await()) std::rethrow_exception(reason);
          box[me] = picos::Trigger();  // a fresh trigger for the next lap
          ++count;
          if (!(i == fibers - 1 && lap == laps - 1)) box[next].signal();
        }
        if (--remaining == 0) all_done.finish();
      });
    }
    box[0].signal();  // start the token
    all_done.await();
    return count;
  });
  double ring = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("ring: %ld fibers passed a token around %ld times: %ld hand-offs in %.3f s "
              "(%.0f ns per hand-off, spawns and stacks included)\n",
              fibers, laps, handoffs, ring, ring * 1e9 / static_cast<double>(handoffs));

  // 2. Cancelation: a fiber sleeping for an hour, canceled by a 20 ms timeout.
  auto t1 = Clock::now();
  std::string outcome = picos::mux::fifo::run([] {
    picos::Computation<void> sleeper;
    sleeper.cancel_after(0.020, std::make_exception_ptr(TimedOut()));
    picos::Computation<void> done;
    picos::Fiber::spawn(picos::Fiber::create(sleeper), [sleeper, done] {
      sleeper.capture([] { picos::Fiber::sleep(3600.0); });
      done.finish();
    });
    done.await();
    try {
      sleeper.await();
      return std::string("not canceled (bug)");
    } catch (const TimedOut& e) {
      return std::string("canceled (") + e.what() + ")";
    }
  });
  std::printf("timeout: a fiber sleeping for 1 h was %s after %.1f ms\n", outcome.c_str(),
              std::chrono::duration<double, std::milli>(Clock::now() - t1).count());
  return 0;
}
