// Copyright 2026 The Picos for C++ Authors.
//
// tools/bench/bench_util.h — what picos_bench, boost_fiber_bench and epoll_echo_peer share:
// the workload sizes (defaults: the suite's table, each an Abseil flag --<size>=N, all
// shrunk by --quick), the filters (--only, --skip, --threads, --impl), the repetition policy
// (--warmup runs, then best of --reps) and the result line
//   bench=<name> impl=<impl> threads=<workers> value=<number> unit=<unit>
// plus the resident-memory probe of rss_parked. The flags are defined in bench_util.cc; no
// dependency on any fiber runtime.

#ifndef PICOS_TOOLS_BENCH_BENCH_UTIL_H_
#define PICOS_TOOLS_BENCH_BENCH_UTIL_H_

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <set>
#include <string>

namespace bench {

// A filter flag (--only, --threads, --impl): absent means everything; each occurrence
// narrows it to the intersection with what came before, so a script can append its own
// filter to the user's (`--only=yield,echo ... --only=echo` runs echo only; `--only=yield
// ... --only=echo` runs nothing).
template <typename T>
struct Filter {
  bool set = false;
  std::set<T> allowed;

  void narrow(const std::set<T>& v) {
    if (!set) {
      allowed = v;
      set = true;
      return;
    }
    std::set<T> both;
    for (const T& x : v) {
      if (allowed.count(x) != 0) both.insert(x);
    }
    allowed = both;
  }
  bool wants(const T& x) const { return !set || allowed.count(x) != 0; }
  bool names(const T& x) const { return set && allowed.count(x) != 0; }
};

// Workloads that run only when --only names them: rss_parked measures the memory a process
// gains, so it needs a process of its own (tools/bench.sh starts one per impl).
inline bool opt_in(const std::string& name) { return name == "rss_parked"; }

struct Sizes {
  std::int64_t yield_n = 1'000'000;        // yields per fiber (2 fibers)
  std::int64_t spawn_n = 1'000'000;        // empty fibers
  std::int64_t skynet_leaves = 1'000'000;  // a power of 10
  std::int64_t mutex_fibers = 100;
  std::int64_t mutex_ops = 10'000;         // per fiber
  std::int64_t pingpong_n = 1'000'000;     // round trips
  std::int64_t throughput_n = 10'000'000;  // messages
  std::int64_t fib_n = 30;
  std::int64_t timers_n = 1'000'000;
  std::int64_t timers_fire_n = 100'000;  // fibers, each sleeps 1 ms
  std::int64_t blocking_n = 1'000;       // fibers, each a 10 ms call on io's blocking pool
  std::int64_t trigger_n = 1'000'000;
  std::int64_t echo_clients = 100;     // connections (one client fiber each)
  std::int64_t echo_rounds = 10'000;   // 64-byte round trips per client
  std::int64_t rss_fibers = 100'000;   // parked fibers
  std::int64_t close_idle_n = 10'000;  // idle connections closed (two fds each)
  // The thread scheduler (one OS thread per fiber) where the sizes above would take too long
  // or too many threads; its other workloads use the sizes above.
  std::int64_t thread_spawn_n = 10'000;
  std::int64_t thread_timers_fire_n = 10'000;
  std::int64_t thread_mutex_ops = 1'000;
  std::int64_t thread_pingpong_n = 20'000;
  std::int64_t thread_throughput_n = 1'000'000;
  std::int64_t thread_trigger_2fibers_n = 20'000;
  std::int64_t thread_rss_fibers = 10'000;
  std::int64_t thread_close_idle_n = 1'000;
  std::int64_t warmup = 1;     // untimed runs before the repetitions
  std::int64_t reps = 3;       // timed repetitions; the best is printed
  Filter<std::string> only;    // --only=a,b: these workloads only
  std::set<std::string> skip;  // --skip=a,b: not these workloads
  Filter<int> threads;         // --threads=1,2: these worker counts only
  Filter<std::string> impl;    // --impl=picos-fifo,boost_fiber: these impls only
  std::set<int> workers;       // --workers=4,8: more multi-worker widths (below)

  bool wants(const std::string& name) const {
    if (skip.count(name) != 0) return false;
    return opt_in(name) ? only.names(name) : only.wants(name);
  }
  bool wants_threads(int t) const { return threads.wants(t); }
  bool wants_impl(const std::string& i) const { return impl.wants(i); }
};

// Parses the command line with Abseil flags (bench_util.cc defines the shared ones; --help
// lists them): --quick shrinks every size not given explicitly, whatever the order.
// Leaves the process with a usage message (exit 1) on an unknown or malformed flag.
Sizes parse(int argc, char** argv);

// Whether --boost_launch=post was given (boost_fiber_bench's flag; the other runners accept
// and ignore it, so that tools/bench.sh can pass the same arguments to all).
bool boost_launch_post();

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

// Whether this process has measured anything yet (see report_fresh).
inline bool& process_used() {
  static bool used = false;
  return used;
}

inline void report(const Sizes& s, const char* name, const std::string& impl, int threads,
                   const char* unit, const std::function<double()>& once,
                   bool higher_is_better = false) {
  process_used() = true;
  // One run; an exception (a scheduler out of threads, say) is a failure with its message,
  // not a crash of the whole suite.
  auto run_once = [&]() -> double {
    try {
      return once();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench=%s impl=%s threads=%d: %s\n", name, impl.c_str(), threads,
                   e.what());
      return -1;
    }
  };
  auto fail = [&] {
    std::printf("bench=%s impl=%s threads=%d value=FAILED unit=%s\n", name, impl.c_str(), threads,
                unit);
    std::fflush(stdout);
    ++failures();
  };
  for (std::int64_t i = 0; i < s.warmup; ++i) {
    if (run_once() < 0) return fail();
  }
  double best = 0;
  for (std::int64_t i = 0; i < s.reps; ++i) {
    double v = run_once();
    if (v < 0) return fail();
    if (i == 0 || (higher_is_better ? v > best : v < best)) best = v;
  }
  // Whole numbers from 100 up (no exponent: msg/s and ms stay readable), 3 digits below.
  std::printf(best >= 100 ? "bench=%s impl=%s threads=%d value=%.0f unit=%s\n"
                          : "bench=%s impl=%s threads=%d value=%.3g unit=%s\n",
              name, impl.c_str(), threads, best, unit);
  std::fflush(stdout);
}

// One measurement, no warm-up, whatever --warmup and --reps say: for rss_parked, whose figure
// is what a fresh process gains. Stacks are pooled and freed heap stays in malloc's free
// lists, so anything measured earlier in the same process would hide the cost: that case is
// still reported, with a warning on stderr.
inline void report_fresh(const Sizes& s, const char* name, const std::string& impl, int threads,
                         const char* unit, const std::function<double()>& once) {
  if (process_used()) {
    std::fprintf(stderr,
                 "warning: %s (%s, %d workers) is not the first measurement in this process: "
                 "pooled stacks and freed heap are reused, so the figure is too low. Run one "
                 "process per impl: --only=%s --impl=%s --threads=%d (tools/bench.sh does)\n",
                 name, impl.c_str(), threads, name, impl.c_str(), threads);
  }
  Sizes once_only = s;
  once_only.warmup = 0;
  once_only.reps = 1;
  report(once_only, name, impl, threads, unit, once);
}

// The process's resident set in KiB (/proc/self/statm's second field), or -1 if unreadable.
inline double rss_kib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  unsigned long long size = 0, resident = 0;
  const int got = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (got != 2) return -1;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1024.0;
}

// The number of online CPUs (at least 1): the thread scheduler's `threads=`.
inline int online_cpus() {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : static_cast<int>(n);
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
