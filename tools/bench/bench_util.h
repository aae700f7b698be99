// Copyright 2026 The Picos for C++ Authors.
//
// tools/bench/bench_util.h — what picos_bench and boost_fiber_bench share: the workload
// sizes (defaults from issue 7's table, each overridable with --<size>=N, all shrunk by
// --quick), the repetition policy (--warmup runs, then best of --reps) and the result line
//   bench=<name> impl=<impl> threads=<workers> value=<number> unit=<unit>
// Header-only; no dependency on either runtime.

#ifndef PICOS_TOOLS_BENCH_BENCH_UTIL_H_
#define PICOS_TOOLS_BENCH_BENCH_UTIL_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace bench {

struct Sizes {
  std::int64_t yield_n = 1'000'000;         // yields per fiber (2 fibers)
  std::int64_t spawn_n = 1'000'000;         // empty fibers
  std::int64_t skynet_leaves = 1'000'000;   // a power of 10
  std::int64_t mutex_fibers = 100;
  std::int64_t mutex_ops = 10'000;          // per fiber
  std::int64_t pingpong_n = 1'000'000;      // round trips
  std::int64_t throughput_n = 10'000'000;   // messages
  std::int64_t fib_n = 30;
  std::int64_t timers_n = 1'000'000;
  std::int64_t timers_fire_n = 100'000;     // fibers, each sleeps 1 ms
  std::int64_t trigger_n = 1'000'000;
  std::int64_t warmup = 1;                  // untimed runs before the repetitions
  std::int64_t reps = 3;                    // timed repetitions; the best is printed
  std::set<std::string> only;               // --only=a,b: these workloads only
  std::set<int> threads;                    // --threads=1,2: these worker counts only

  bool wants(const std::string& name) const { return only.empty() || only.count(name) != 0; }
  bool wants_threads(int t) const { return threads.empty() || threads.count(t) != 0; }
};

inline std::set<std::string> split(const std::string& s) {
  std::set<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.insert(item);
  }
  return out;
}

[[noreturn]] inline void usage(const char* argv0, const std::string& bad) {
  std::fprintf(stderr,
               "%s: unknown or malformed argument '%s'\n"
               "usage: %s [--quick] [--warmup=N] [--reps=N] [--only=w1,w2] [--threads=1,2]\n"
               "  sizes: --yield_n= --spawn_n= --skynet_leaves= --mutex_fibers= --mutex_ops=\n"
               "         --pingpong_n= --throughput_n= --fib_n= --timers_n= --timers_fire_n=\n"
               "         --trigger_n=\n",
               argv0, bad.c_str(), argv0);
  std::exit(2);
}

// Parses the command line. --quick applies first (whatever its position), then explicit sizes.
inline Sizes parse(int argc, char** argv) {
  Sizes s;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      s.yield_n /= 10;
      s.spawn_n /= 10;
      s.skynet_leaves /= 100;
      s.mutex_ops /= 100;
      s.pingpong_n /= 10;
      s.throughput_n /= 100;
      s.fib_n = 25;
      s.timers_n /= 10;
      s.timers_fire_n /= 10;
      s.trigger_n /= 10;
    }
  }
  std::map<std::string, std::int64_t*> ints = {
      {"yield_n", &s.yield_n},         {"spawn_n", &s.spawn_n},
      {"skynet_leaves", &s.skynet_leaves}, {"mutex_fibers", &s.mutex_fibers},
      {"mutex_ops", &s.mutex_ops},     {"pingpong_n", &s.pingpong_n},
      {"throughput_n", &s.throughput_n}, {"fib_n", &s.fib_n},
      {"timers_n", &s.timers_n},       {"timers_fire_n", &s.timers_fire_n},
      {"trigger_n", &s.trigger_n},     {"warmup", &s.warmup},
      {"reps", &s.reps},
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") continue;
    if (a.rfind("--", 0) != 0 || a.find('=') == std::string::npos) usage(argv[0], a);
    std::string key = a.substr(2, a.find('=') - 2), val = a.substr(a.find('=') + 1);
    if (key == "only") {
      s.only = split(val);
    } else if (key == "threads") {
      for (const std::string& t : split(val)) s.threads.insert(std::atoi(t.c_str()));
    } else if (auto it = ints.find(key); it != ints.end()) {
      char* end = nullptr;
      long long v = std::strtoll(val.c_str(), &end, 10);
      if (end == val.c_str() || *end != '\0' || v < 0) usage(argv[0], a);
      *it->second = v;
    } else {
      usage(argv[0], a);
    }
  }
  if (s.reps < 1) s.reps = 1;
  std::int64_t leaves = s.skynet_leaves;
  while (leaves > 1 && leaves % 10 == 0) leaves /= 10;
  if (leaves != 1) usage(argv[0], "--skynet_leaves (must be a power of 10)");
  return s;
}

using Clock = std::chrono::steady_clock;

inline double ns_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

// A stopwatch a workload starts and stops around exactly its timed region.
struct Timer {
  Clock::time_point t0{};
  double ns = 0;
  void start() { t0 = Clock::now(); }
  void stop() { ns = ns_since(t0); }
};

// Runs `once` warmup + reps times (each returns its figure in `unit`) and prints the best
// (the lowest, or the highest when `higher_is_better`). A figure < 0 means the run's check
// failed: the line is printed with value=FAILED and the process exit status becomes 1.
inline int& failures() {
  static int n = 0;
  return n;
}

inline void report(const Sizes& s, const char* name, const std::string& impl, int threads,
                   const char* unit, const std::function<double()>& once,
                   bool higher_is_better = false) {
  for (std::int64_t i = 0; i < s.warmup; ++i) {
    if (once() < 0) {
      std::printf("bench=%s impl=%s threads=%d value=FAILED unit=%s\n", name, impl.c_str(),
                  threads, unit);
      std::fflush(stdout);
      ++failures();
      return;
    }
  }
  double best = 0;
  for (std::int64_t i = 0; i < s.reps; ++i) {
    double v = once();
    if (v < 0) {
      std::printf("bench=%s impl=%s threads=%d value=FAILED unit=%s\n", name, impl.c_str(),
                  threads, unit);
      std::fflush(stdout);
      ++failures();
      return;
    }
    if (i == 0 || (higher_is_better ? v > best : v < best)) best = v;
  }
  // Whole numbers from 100 up (no exponent: msg/s and ms stay readable), 3 digits below.
  std::printf(best >= 100 ? "bench=%s impl=%s threads=%d value=%.0f unit=%s\n"
                          : "bench=%s impl=%s threads=%d value=%.3g unit=%s\n",
              name, impl.c_str(), threads, best, unit);
  std::fflush(stdout);
}

// 0 + 1 + ... + (leaves - 1): skynet's expected sum.
inline std::int64_t skynet_expected(std::int64_t leaves) { return leaves * (leaves - 1) / 2; }

// fib(n) by iteration: the fib workload's expected result.
inline std::int64_t fib_expected(std::int64_t n) {
  std::int64_t a = 0, b = 1;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t t = a + b;
    a = b;
    b = t;
  }
  return a;
}

// fib below this size runs inline (no fiber), as the table says (n >= 20 spawns).
inline constexpr std::int64_t kFibSpawnMin = 20;

inline std::int64_t fib_seq(std::int64_t n) { return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2); }

}  // namespace bench

#endif  // PICOS_TOOLS_BENCH_BENCH_UTIL_H_
