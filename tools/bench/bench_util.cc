// Copyright 2026 The Picos for C++ Authors.
//
// tools/bench/bench_util.cc — the flags every runner of the suite shares (picos_bench,
// boost_fiber_bench, epoll_echo_peer), as Abseil flags, and bench::parse, which turns them
// into a bench::Sizes. `--help` lists them (and the runner's own, if any).

#include "tools/bench/bench_util.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "tools/common/flags.h"

namespace {

// The filters are narrowed once per occurrence of their flag (OnUpdate runs after every
// setting), so that a repeated filter keeps the intersection: a script can append its own
// (`--only=yield,echo ... --only=echo` runs echo only). OnUpdate also runs once when the
// callback is registered, with the default: `g_parsing` tells those calls apart.
bool g_parsing = false;
bench::Filter<std::string> g_only, g_impl;
bench::Filter<int> g_threads;
std::set<std::string> g_skip;
std::set<int> g_workers;
bool g_bad_number = false;

std::set<std::string> split(absl::string_view s) {
  std::set<std::string> out;
  for (absl::string_view item : absl::StrSplit(s, ',', absl::SkipEmpty())) {
    out.insert(std::string(item));
  }
  return out;
}

std::set<int> split_ints(absl::string_view s, int min) {
  std::set<int> out;
  for (const std::string& x : split(s)) {
    int n = 0;
    if (!absl::SimpleAtoi(x, &n) || n < min) {
      g_bad_number = true;
      continue;
    }
    out.insert(n);
  }
  return out;
}

}  // namespace

// Sizes, --warmup and --reps: unset unless given, so that --quick shrinks only the defaults
// (bench::Sizes holds them; "--quick:" says what it makes of one).
#define PICOS_BENCH_SIZE_FLAG(name, help) \
  ABSL_FLAG(std::optional<std::int64_t>, name, std::nullopt, help)

ABSL_FLAG(bool, quick, false,
          "sizes 10-100x smaller (every size not given explicitly): a smoke run");
PICOS_BENCH_SIZE_FLAG(warmup, "untimed runs before the repetitions (default 1)");
PICOS_BENCH_SIZE_FLAG(reps, "timed repetitions; the best is printed (default 3)");
ABSL_FLAG(std::string, only, "",
          "w1,w2: these workloads only; given twice, the intersection. rss_parked runs only "
          "when --only names it (it needs a fresh process)")
    .OnUpdate([] {
      if (!g_parsing) return;
      g_only.narrow(split(absl::GetFlag(FLAGS_only)));
    });
ABSL_FLAG(std::string, skip, "", "w1,w2: not these workloads (accumulates)").OnUpdate([] {
  for (const std::string& w : split(absl::GetFlag(FLAGS_skip))) g_skip.insert(w);
});
ABSL_FLAG(std::string, threads, "", "1,2: these worker counts only; given twice, the intersection")
    .OnUpdate([] {
      if (!g_parsing) return;
      g_threads.narrow(split_ints(absl::GetFlag(FLAGS_threads), 0));
    });
ABSL_FLAG(std::string, impl, "",
          "picos-fifo,boost_fiber,...: these impls only; given twice, the intersection")
    .OnUpdate([] {
      if (!g_parsing) return;
      g_impl.narrow(split(absl::GetFlag(FLAGS_impl)));
    });
ABSL_FLAG(std::string, workers, "",
          "4,8,16: more multi-worker widths than 1 and 2 (picos_bench adds multififo and "
          "multififo_cf rows with that many workers; boost_fiber_bench runs its work_stealing "
          "rows with the largest instead of 2, its scheduler's state being process-wide)")
    .OnUpdate([] {
      for (int n : split_ints(absl::GetFlag(FLAGS_workers), 1)) g_workers.insert(n);
    });
ABSL_FLAG(std::string, boost_launch, "dispatch",
          "dispatch|post: how boost_fiber_bench launches the fibers of spawn_join and skynet "
          "(the other runners accept and ignore it)");

PICOS_BENCH_SIZE_FLAG(yield_n, "yields per fiber (2 fibers) (default 1,000,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(spawn_n, "empty fibers (default 1,000,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(skynet_leaves,
                      "skynet's leaves, a power of 10 (default 1,000,000; --quick: /100)");
PICOS_BENCH_SIZE_FLAG(mutex_fibers, "fibers contending for the mutex (default 100)");
PICOS_BENCH_SIZE_FLAG(mutex_ops, "lock/unlock per fiber (default 10,000; --quick: /100)");
PICOS_BENCH_SIZE_FLAG(pingpong_n, "channel round trips (default 1,000,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(throughput_n, "channel messages (default 10,000,000; --quick: /100)");
PICOS_BENCH_SIZE_FLAG(fib_n, "fib(n) (default 30; --quick: 25)");
PICOS_BENCH_SIZE_FLAG(timers_n, "cancel_after timers (default 1,000,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(timers_fire_n, "fibers, each sleeps 1 ms (default 100,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(blocking_n,
                      "fibers, each run_blocking(a 10 ms sleep) (default 1,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(trigger_n,
                      "trigger operations and round trips (default 1,000,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(echo_clients, "echo connections (one client fiber each) (default 100)");
PICOS_BENCH_SIZE_FLAG(echo_rounds,
                      "64-byte round trips per echo client (default 10,000; --quick: /100)");
PICOS_BENCH_SIZE_FLAG(rss_fibers, "parked fibers (default 100,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(
    close_idle_n, "idle connections closed (two descriptors each) (default 10,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(thread_spawn_n,
                      "spawn_n on the thread scheduler (default 10,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(thread_timers_fire_n,
                      "timers_fire_n on the thread scheduler (default 10,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(thread_mutex_ops,
                      "mutex_ops on the thread scheduler (default 1,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(thread_pingpong_n,
                      "pingpong_n on the thread scheduler (default 20,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(thread_throughput_n,
                      "throughput_n on the thread scheduler (default 1,000,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(
    thread_trigger_2fibers_n,
    "trigger_2fibers round trips on the thread scheduler (default 20,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(thread_rss_fibers,
                      "rss_fibers on the thread scheduler (default 10,000; --quick: /10)");
PICOS_BENCH_SIZE_FLAG(thread_close_idle_n,
                      "close_idle_n on the thread scheduler (default 1,000; --quick: /10)");

namespace bench {

namespace {

// A size flag, where it goes (bench::Sizes' member holds the default), and what --quick
// makes of the default: divided by `quick_div` or, where `quick_value` >= 0, that value.
struct SizeFlag {
  const absl::Flag<std::optional<std::int64_t>>* flag;
  std::int64_t Sizes::*field;
  std::int64_t quick_div;
  std::int64_t quick_value;
};

const std::vector<SizeFlag>& size_flags() {
  static const std::vector<SizeFlag> flags = {
      {&FLAGS_yield_n, &Sizes::yield_n, 10, -1},
      {&FLAGS_spawn_n, &Sizes::spawn_n, 10, -1},
      {&FLAGS_skynet_leaves, &Sizes::skynet_leaves, 100, -1},
      {&FLAGS_mutex_fibers, &Sizes::mutex_fibers, 1, -1},
      {&FLAGS_mutex_ops, &Sizes::mutex_ops, 100, -1},
      {&FLAGS_pingpong_n, &Sizes::pingpong_n, 10, -1},
      {&FLAGS_throughput_n, &Sizes::throughput_n, 100, -1},
      {&FLAGS_fib_n, &Sizes::fib_n, 1, 25},
      {&FLAGS_timers_n, &Sizes::timers_n, 10, -1},
      {&FLAGS_timers_fire_n, &Sizes::timers_fire_n, 10, -1},
      {&FLAGS_blocking_n, &Sizes::blocking_n, 10, -1},
      {&FLAGS_trigger_n, &Sizes::trigger_n, 10, -1},
      {&FLAGS_echo_clients, &Sizes::echo_clients, 1, -1},
      {&FLAGS_echo_rounds, &Sizes::echo_rounds, 100, -1},
      {&FLAGS_rss_fibers, &Sizes::rss_fibers, 10, -1},
      {&FLAGS_close_idle_n, &Sizes::close_idle_n, 10, -1},
      {&FLAGS_thread_spawn_n, &Sizes::thread_spawn_n, 10, -1},
      {&FLAGS_thread_timers_fire_n, &Sizes::thread_timers_fire_n, 10, -1},
      {&FLAGS_thread_mutex_ops, &Sizes::thread_mutex_ops, 10, -1},
      {&FLAGS_thread_pingpong_n, &Sizes::thread_pingpong_n, 10, -1},
      {&FLAGS_thread_throughput_n, &Sizes::thread_throughput_n, 10, -1},
      {&FLAGS_thread_trigger_2fibers_n, &Sizes::thread_trigger_2fibers_n, 10, -1},
      {&FLAGS_thread_rss_fibers, &Sizes::thread_rss_fibers, 10, -1},
      {&FLAGS_thread_close_idle_n, &Sizes::thread_close_idle_n, 10, -1},
      {&FLAGS_warmup, &Sizes::warmup, 1, -1},
      {&FLAGS_reps, &Sizes::reps, 1, -1},
  };
  return flags;
}

[[noreturn]] void fail(const char* argv0, const std::string& why) {
  std::fprintf(stderr, "%s: %s (--help lists the flags)\n", argv0, why.c_str());
  std::exit(2);  // NOLINT(concurrency-mt-unsafe): parsing flags, before any thread starts
}

}  // namespace

Sizes parse(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "one result line per (workload, impl, workers):\n"
      "  bench=<name> impl=<impl> threads=<workers> value=<number> unit=<unit>\n"
      "Sizes default to the suite's table; docs/benchmarks.md, \"The suite\", describes the "
      "workloads. tools/bench.sh runs every runner and prints the summary table.");
  absl::FlagsUsageConfig config;
  // --help lists the flags of the suite's sources (Abseil's default: the main file's only).
  config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "tools/bench/");
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
  g_parsing = true;
  const std::vector<char*> rest = picos::tools::parse_command_line(argc, argv);
  g_parsing = false;
  if (rest.size() > 1) fail(argv[0], std::string("unexpected argument '") + rest[1] + "'");
  if (g_bad_number) fail(argv[0], "--threads and --workers take comma-separated counts");
  const std::string launch = absl::GetFlag(FLAGS_boost_launch);
  if (launch != "dispatch" && launch != "post") {
    fail(argv[0], "--boost_launch must be dispatch or post, got '" + launch + "'");
  }

  Sizes s;
  const bool quick = absl::GetFlag(FLAGS_quick);
  for (const SizeFlag& f : size_flags()) {
    const std::optional<std::int64_t> given = absl::GetFlag(*f.flag);
    if (given) {
      if (*given < 0) fail(argv[0], "sizes, --warmup and --reps must not be negative");
      s.*f.field = *given;
    } else if (quick) {
      s.*f.field = f.quick_value >= 0 ? f.quick_value : s.*f.field / f.quick_div;
    }
  }
  s.only = g_only;
  s.skip = g_skip;
  s.threads = g_threads;
  s.impl = g_impl;
  s.workers = g_workers;
  if (s.reps < 1) s.reps = 1;
  if (s.echo_clients < 1) s.echo_clients = 1;
  if (s.echo_rounds < 1) s.echo_rounds = 1;
  if (s.rss_fibers < 1) s.rss_fibers = 1;
  if (s.thread_rss_fibers < 1) s.thread_rss_fibers = 1;
  if (s.close_idle_n < 1) s.close_idle_n = 1;
  if (s.thread_close_idle_n < 1) s.thread_close_idle_n = 1;
  std::int64_t leaves = s.skynet_leaves;
  while (leaves > 1 && leaves % 10 == 0) leaves /= 10;
  if (leaves != 1) fail(argv[0], "--skynet_leaves must be a power of 10");
  return s;
}

bool boost_launch_post() { return absl::GetFlag(FLAGS_boost_launch) == "post"; }

}  // namespace bench
