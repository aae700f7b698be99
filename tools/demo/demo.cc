// Copyright 2026 The Picos for C++ Authors.
//
// The demo: an echo server written with picos::structured (Bundle/Flock) and picos::io (a
// listener fiber accepting on 127.0.0.1, one forked fiber per connection echoing until end of
// file), driven by N client fibers in the same process, each doing R round trips of a 64-byte
// message over loopback. Every echoed byte is checked and every round trip timed; it prints
// one table row per scheduler: connections, round trips/s, p50 and p99 latency. Then one line
// shows a timeout composing with io: a read from a silent peer cut short by
// Control::terminate_after.
//
//   bazel run -c opt //tools/demo -- [--clients=N] [--rounds=R] [--all] [--scheduler=NAME]
//                                    [--threads=N]
//   bazel run -c opt //tools/demo -- --serve=PORT [--grace=SECONDS] [--scheduler=NAME]
//                                    [--threads=N]
//
// The scheduler: --scheduler=fifo|multififo|libevent|thread|randos picks one of the
// schedulers linked into the binary (--threads=N: multififo's workers, 0 = one per CPU);
// without it the build's default runs (//mux:default, --//mux:scheduler=...). --all runs the
// benchmark once on each of fifo, multififo and libevent. The scheduler is a choice made per
// run call: neither the server nor the client code knows about it.
//
// --serve=PORT runs only the server, on 127.0.0.1:PORT (0: the kernel picks; the first line
// printed names the port), until SIGINT or SIGTERM (try `nc 127.0.0.1 PORT`). What a server
// must do, shown here (docs/io.md, "Writing a server"):
//  - A connection's IO error (ECONNRESET, EPIPE, ETIMEDOUT...) ends that connection only: the
//    handler catches it, counts it and returns, so it never reaches the flock (an exception
//    escaping a forked fiber terminates the whole scope: every other connection).
//  - The server does not run itself out of descriptors: at most --max-connections are open
//    at once (default: RLIMIT_NOFILE minus 32 kept for the server itself); beyond that the
//    acceptor waits on a semaphore for one to close, and new clients wait in the listen
//    backlog. accept's transient failures (out of descriptors all the same, a connection
//    aborted before it was accepted) pause or skip; any other accept failure means the
//    listener is broken and stops the server with a message (exit 1).
//  - SIGINT/SIGTERM reach a fiber through io::SignalSet (a signalfd, blocked in every thread
//    because main creates it before the scheduler starts its threads). The server then stops
//    accepting and closes the listener, gives open connections --grace seconds (default 5)
//    to finish, terminates the rest, prints a summary (connections, bytes, resets, errors)
//    and exits 0.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "io/io.h"
#include "io/signal.h"
#include "mux/default.h"
#include "mux/fifo/fifo.h"
#include "mux/libevent/libevent.h"
#include "mux/multififo/multififo.h"
#include "mux/thread/thread.h"
#include "picos/debug.h"
#include "randos/randos.h"
#include "std/structured/structured.h"
#include "std/sync/semaphore.h"
#include "tools/common/flags.h"
#include "tools/demo/loopback.h"
#include "tools/demo/schedulers.h"
#include "tools/demo/serve.h"

namespace {

using picos::structured::Bundle;
using picos::structured::Control;
using picos::structured::Flock;
using picos::structured::OnReturn;
using Clock = std::chrono::steady_clock;
namespace io = picos::io;
using picos::tools::display_name;
using picos::tools::FdGuard;
using picos::tools::is_connection_error;
using picos::tools::is_reset;
using picos::tools::listen_loopback;
using picos::tools::multififo_options;
using picos::tools::no_delay;
using picos::tools::raise_fd_limit;
using picos::tools::run_on;
using picos::tools::serve_until_signal;

constexpr std::size_t kMessage = 64;
constexpr long kDefaultClients = 1000;
constexpr long kDefaultRounds = 50;
constexpr double kDefaultGrace = 5.0;
// Descriptors --serve keeps for itself: stdin/out/err, the listener, the signalfd, the
// schedulers' and the default reactor's epoll sets and eventfds (about 10), and headroom for
// whatever else the process opens (a sanitizer's pipe, a library's file). Connections get
// the rest of RLIMIT_NOFILE.
constexpr long kServerReserveFds = 32;
// Below this RLIMIT_NOFILE --serve refuses to start: the reserve plus room for 32 connections.
constexpr long kServerMinFds = kServerReserveFds + 32;

}  // namespace

// The flags. Those whose absence matters (a default that depends on the mode, or a check that
// they were not combined) are optional: unset unless given.
ABSL_FLAG(std::optional<long>, clients, std::nullopt,
          "client fibers, one connection each, 1-100000 (default 1000)");
ABSL_FLAG(std::optional<long>, rounds, std::nullopt,
          "64-byte round trips per client, 1-10000000 (default 50)");
ABSL_FLAG(bool, all, false, "run once per scheduler: fifo, multififo, libevent");
ABSL_FLAG(std::optional<long>, serve, std::nullopt,
          "PORT: only run the echo server on 127.0.0.1:PORT (0: any port) until SIGINT or "
          "SIGTERM; then print a summary and exit 0");
ABSL_FLAG(std::optional<double>, grace, std::nullopt,
          "--serve: seconds open connections may go on after the signal, 0-86400 (default 5)");
// Spelled --max-connections on the command line (main rewrites it: flag names are C names).
ABSL_FLAG(std::optional<long>, max_connections, std::nullopt,
          "given as --max-connections=N. --serve: connections open at once; more wait in the "
          "listen backlog (default: RLIMIT_NOFILE minus 32 kept for the server)");
ABSL_FLAG(std::string, scheduler, "",
          "fifo, multififo, libevent, thread or randos (default: the build's, "
          "--//mux:scheduler)");
ABSL_FLAG(std::optional<int>, threads, std::nullopt,
          "multififo's workers, 0-1024 (default 0: one per CPU)");

namespace {

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "demo: %s (--help lists the flags)\n", msg.c_str());
  std::exit(2);  // NOLINT(concurrency-mt-unsafe): while parsing flags, before any thread
}

struct Flags {
  long clients = kDefaultClients;
  long rounds = kDefaultRounds;
  bool all = false;
  long serve = -1;  // port, or -1: no --serve
  double grace = kDefaultGrace;
  long max_connections = 0;  // 0: from RLIMIT_NOFILE
  std::string scheduler;     // empty: the build's default
  int threads = 0;           // multififo workers; 0: one per CPU
};

// The optional flag's value, checked against [min, max], or `otherwise` when it is unset.
template <typename T>
T in_range(const absl::Flag<std::optional<T>>& flag, const char* name, T min, T max, T otherwise) {
  const std::optional<T> v = absl::GetFlag(flag);
  if (!v) return otherwise;
  if (!(*v >= min && *v <= max)) {
    usage_error(absl::StrCat("--", name, " must be in [", min, ", ", max, "], got ", *v));
  }
  return *v;
}

Flags parse_flags(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "an echo server written with Flock and picos::io, loaded by client fibers.\n"
      "  demo [--clients=N] [--rounds=R] [--all] [--scheduler=NAME] [--threads=N]\n"
      "  demo --serve=PORT [--grace=SECONDS] [--max-connections=N] [--scheduler=NAME] "
      "[--threads=N]");
  // The flags' spelling of --max-connections, and -h for --help.
  std::vector<std::string> args(argv, argv + argc);
  std::vector<char*> argv2;
  for (std::string& a : args) {
    if (absl::StartsWith(a, "--max-connections")) {
      a = "--max_connections" + a.substr(std::strlen("--max-connections"));
    } else if (a == "-h") {
      a = "--help";
    }
    argv2.push_back(a.data());
  }
  const std::vector<char*> rest = picos::tools::parse_command_line(argc, argv2.data());
  if (rest.size() > 1) usage_error(absl::StrCat("unexpected argument '", rest[1], "'"));

  Flags f;
  f.clients = in_range(FLAGS_clients, "clients", 1L, 100000L, kDefaultClients);
  f.rounds = in_range(FLAGS_rounds, "rounds", 1L, 10000000L, kDefaultRounds);
  f.serve = in_range(FLAGS_serve, "serve", 0L, 65535L, -1L);
  f.grace = in_range(FLAGS_grace, "grace", 0.0, 86400.0, kDefaultGrace);
  f.max_connections = in_range(FLAGS_max_connections, "max-connections", 1L, 10000000L, 0L);
  f.threads = in_range(FLAGS_threads, "threads", 0, 1024, 0);
  f.all = absl::GetFlag(FLAGS_all);
  f.scheduler = absl::GetFlag(FLAGS_scheduler);
  if (!f.scheduler.empty() && !picos::tools::is_scheduler_name(f.scheduler)) {
    usage_error("--scheduler must be fifo, multififo, libevent, thread or randos, got '" +
                f.scheduler + "'");
  }
  const bool clients_set = absl::GetFlag(FLAGS_clients).has_value();
  const bool rounds_set = absl::GetFlag(FLAGS_rounds).has_value();
  if (f.serve >= 0 && (f.all || clients_set || rounds_set)) {
    usage_error(
        "--serve runs only the server: it cannot be combined with --all, --clients "
        "or --rounds");
  }
  if (f.serve < 0 && (absl::GetFlag(FLAGS_grace) || absl::GetFlag(FLAGS_max_connections))) {
    usage_error("--grace and --max-connections apply only to --serve");
  }
  if (f.all && !f.scheduler.empty()) {
    usage_error(
        "--all runs fifo, multififo and libevent: it cannot be combined with "
        "--scheduler");
  }
  if (absl::GetFlag(FLAGS_threads) && !f.all && f.scheduler != "multififo" &&
      !(f.scheduler.empty() &&
        std::strcmp(picos::mux::default_scheduler_name(), "multififo") == 0)) {
    usage_error("--threads sets multififo's workers: use it with --scheduler=multififo");
  }
  if (f.clients * f.rounds > 200000000L) {
    usage_error("--clients x --rounds must be at most 200,000,000 round trips");
  }
  return f;
}

// The scheduler a run uses: the flag's, else the build's.
std::string scheduler_name(const Flags& f) { return picos::tools::scheduler_name(f.scheduler); }

// ---- the server ------------------------------------------------------------------------

// How connections ended, shared by every handler (they may run on several threads).
struct ServerStats : picos::tools::AcceptCounters {  // accepted, open, aborted, fd_pauses
  std::atomic<long> clean{0};   // the client closed (end of file) and got all its bytes
  std::atomic<long> resets{0};  // ECONNRESET / EPIPE: the client reset or vanished
  std::atomic<long> errors{0};  // other errors of the connection (ETIMEDOUT, ...)
  std::atomic<long> cut{0};     // terminated by the server (grace deadline)
  std::atomic<long> bytes{0};   // bytes echoed
  std::atomic<long> full{0};    // the acceptor waited for a connection to close
};

// One connection: echo until end of file. Its own IO errors end it quietly (counted in
// `stats`); Terminate (the server stopping) cuts it; anything else escapes to the scope.
void handle(int fd, ServerStats& stats, picos::sync::Semaphore& slots) {
  // Counts the connection out and gives its slot back however the fiber ends (Terminate
  // included), after the guard below has closed the descriptor.
  struct Outcome {
    ServerStats& stats;
    picos::sync::Semaphore& slots;
    std::atomic<long>* counter = nullptr;
    ~Outcome() {
      (counter ? *counter : stats.cut).fetch_add(1, std::memory_order_relaxed);
      stats.open.fetch_sub(1, std::memory_order_relaxed);
      slots.release();
    }
  } outcome{stats, slots};
  FdGuard guard{fd};
  no_delay(fd);
  char buf[4096];
  int err = 0;
  try {
    for (;;) {
      ssize_t n = io::read(fd, buf, sizeof buf);
      if (n == 0) break;
      io::write_all(fd, buf, static_cast<std::size_t>(n));
      stats.bytes.fetch_add(n, std::memory_order_relaxed);
    }
  } catch (const std::system_error& e) {
    if (!is_connection_error(e.code().value())) throw;
    err = e.code().value();
  }
  outcome.counter = err == 0 ? &stats.clean : is_reset(err) ? &stats.resets : &stats.errors;
}

// Accepts until canceled, forking one handler per connection into `connections`. It takes
// one of `slots` before each accept (the handler gives it back): with every slot in use it
// waits for a connection to close, reported once per episode, and new clients wait in the
// listen backlog. Transient accept failures skip the connection or, out of descriptors,
// pause (10 ms, doubling up to 200 ms while it lasts, reported once per shortage); any other
// failure throws: the listener is broken.
void accept_loop(int lfd, const Bundle& connections, ServerStats& stats,
                 picos::sync::Semaphore& slots) {
  std::chrono::milliseconds pause{0};
  for (;;) {
    if (!slots.try_acquire()) {
      std::fprintf(stderr,
                   "demo: %ld connections open, the limit (--max-connections): new ones wait "
                   "in the listen backlog until one closes\n",
                   stats.open.load());
      stats.full.fetch_add(1, std::memory_order_relaxed);
      slots.acquire();
    }
    const int fd = picos::tools::accept_one(lfd, stats, pause, "demo");
    if (fd < 0) {
      slots.release();
      continue;
    }
    std::exception_ptr failed;
    try {
      connections.fork([fd, &stats, &slots] { handle(fd, stats, slots); });
    } catch (...) {  // the scope has been terminated: the handler never runs
      failed = std::current_exception();
    }
    if (failed) {
      io::close(fd);
      stats.open.fetch_sub(1, std::memory_order_relaxed);
      slots.release();
      std::rethrow_exception(failed);
    }
  }
}

// --serve: the server alone, until SIGINT/SIGTERM arrives on `stop`; then the listener is
// closed, open connections get `grace` seconds, and a summary is printed.
void serve(long port, double grace, long max_connections, const std::string& scheduler,
           io::SignalSet& stop) {
  sockaddr_in addr{};
  FdGuard listener{listen_loopback(static_cast<int>(port), &addr)};
  std::printf("echo server on 127.0.0.1:%d (scheduler %s); stop it with Ctrl-C or SIGTERM\n",
              ntohs(addr.sin_port), scheduler.c_str());
  std::fflush(stdout);
  ServerStats stats;
  picos::sync::Semaphore slots(max_connections);
  serve_until_signal(
      "demo", listener.fd, stop, grace,
      [&](const Bundle& connections) { accept_loop(listener.fd, connections, stats, slots); },
      [&] { return stats.open.load(); });
  std::printf(
      "summary: %ld connections served: %ld closed by the client, %ld reset "
      "(ECONNRESET/EPIPE), %ld other errors, %ld cut at the grace deadline; %ld bytes "
      "echoed; %ld aborted before accept; %ld waits at the connection limit; %ld accept pauses "
      "out of descriptors\n",
      stats.accepted.load(), stats.clean.load(), stats.resets.load(), stats.errors.load(),
      stats.cut.load(), stats.bytes.load(), stats.aborted.load(), stats.full.load(),
      stats.fd_pauses.load());
  // What the scheduler counted (picos/debug.h): spawns, switches, steals, io waits, timers.
  std::ostringstream counters;
  picos::debug::print_stats(counters);
  std::fputs(counters.str().c_str(), stdout);
  std::fflush(stdout);
}

// ---- the in-process benchmark ----------------------------------------------------------

struct Result {
  long connections = 0;
  long round_trips = 0;
  double seconds = 0;
  double p50_us = 0, p99_us = 0;
  long failed = 0;          // clients ended by an IO error
  std::string first_error;  // the first such error
};

constexpr std::uint32_t kNoSample = UINT32_MAX;

// Runs inside a scheduler's main fiber: server + clients in one flock, the server terminated
// once every client is done. A client whose connection fails (reset, refused...) is counted
// and stops; the others go on. A wrong byte is a bug and stops everything.
Result echo_benchmark(long clients, long rounds) {
  Result r;
  std::vector<std::uint32_t> lat_ns(static_cast<std::size_t>(clients * rounds), kNoSample);
  std::atomic<long> failed{0};
  std::mutex error_mu;
  ServerStats stats;
  picos::sync::Semaphore slots(picos::sync::Semaphore::kMax);
  sockaddr_in addr{};
  int lfd = listen_loopback(0, &addr);
  FdGuard lguard{lfd};  // closed after the flock: nothing accepts on it any more
  Flock::join_after(
      [&] {
        Flock::fork([&] { accept_loop(lfd, Flock::current(), stats, slots); });
        auto t0 = Clock::now();
        Flock::join_after([&] {
          for (long c = 0; c < clients; ++c) {
            Flock::fork([&, c] {
              std::string error;
              try {
                int fd = io::socket(AF_INET, SOCK_STREAM, 0);
                FdGuard guard{fd};
                io::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
                no_delay(fd);
                unsigned char out[kMessage], in[kMessage];
                std::uint32_t* lat = lat_ns.data() + c * rounds;
                for (long k = 0; k < rounds; ++k) {
                  for (std::size_t i = 0; i < kMessage; ++i) {
                    out[i] = static_cast<unsigned char>(c * 131 + k * 7 + static_cast<long>(i));
                  }
                  auto s = Clock::now();
                  io::write_all(fd, out, kMessage);
                  std::size_t got = io::read_full(fd, in, kMessage);
                  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - s);
                  if (got != kMessage || std::memcmp(in, out, kMessage) != 0) {
                    throw std::runtime_error("client " + std::to_string(c) + ", round " +
                                             std::to_string(k) + ": echo mismatch (" +
                                             std::to_string(got) + " of 64 bytes back)");
                  }
                  lat[k] =
                      static_cast<std::uint32_t>(std::min<std::int64_t>(ns.count(), INT32_MAX));
                }
              } catch (const std::system_error& e) {
                if (!is_connection_error(e.code().value()) && e.code().value() != ECONNREFUSED) {
                  throw;
                }
                error = "client " + std::to_string(c) + ": " + e.what();
              }
              if (!error.empty()) {
                std::lock_guard<std::mutex> lock(error_mu);
                if (failed.fetch_add(1) == 0) r.first_error = error;
              }
            });
          }
        });
        r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      },
      OnReturn::kTerminate);  // stops the listener (and any handler still reading)
  lat_ns.erase(std::remove(lat_ns.begin(), lat_ns.end(), kNoSample), lat_ns.end());
  r.connections = clients;
  r.round_trips = static_cast<long>(lat_ns.size());
  r.failed = failed.load();
  auto pct = [&](double p) {
    if (lat_ns.empty()) return 0.0;
    auto idx = static_cast<std::size_t>(p * static_cast<double>(lat_ns.size() - 1));
    std::nth_element(lat_ns.begin(), lat_ns.begin() + static_cast<long>(idx), lat_ns.end());
    return lat_ns[idx] / 1000.0;
  };
  r.p50_us = pct(0.50);
  r.p99_us = pct(0.99);
  return r;
}

void print_header() {
  std::printf("%-24s %11s %14s %10s %10s\n", "scheduler", "connections", "round trips/s",
              "p50 (us)", "p99 (us)");
}

// Prints the row; returns false if clients failed (reported on stderr).
bool print_row(const std::string& name, const Result& r) {
  std::printf("%-24s %11ld %14.0f %10.1f %10.1f\n", name.c_str(), r.connections,
              static_cast<double>(r.round_trips) / r.seconds, r.p50_us, r.p99_us);
  std::fflush(stdout);
  if (r.failed == 0) return true;
  std::fprintf(stderr, "demo: %s: %ld of %ld clients failed; the first: %s\n", name.c_str(),
               r.failed, r.connections, r.first_error.c_str());
  return false;
}

// A read from a peer that never writes, with a 500 ms deadline. Returns the elapsed time.
double silent_peer_timeout() {
  sockaddr_in addr{};
  int lfd = listen_loopback(0, &addr);
  FdGuard lguard{lfd};
  int fd = io::socket(AF_INET, SOCK_STREAM, 0);
  FdGuard cguard{fd};
  io::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  FdGuard sguard{io::accept(lfd)};  // the silent peer
  auto t0 = Clock::now();
  bool terminated = false;
  try {
    char b;
    (void)Control::terminate_after(std::chrono::milliseconds(500),
                                   [&] { return io::read(fd, &b, 1); });
  } catch (const picos::structured::Terminate&) {
    terminated = true;
  }
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (!terminated) throw std::runtime_error("the silent peer's read returned (bug)");
  return ms;
}

int benchmark(const Flags& flags) {
  std::printf(
      "echo over loopback TCP: %ld client fibers x %ld round trips of %zu bytes, "
      "every byte checked\n",
      flags.clients, flags.rounds, kMessage);
  print_header();
  auto bench = [&] { return echo_benchmark(flags.clients, flags.rounds); };
  std::string name = scheduler_name(flags);
  bool ok = true;
  if (flags.all) {
    ok &= print_row("fifo", picos::mux::fifo::run(bench));
    ok &= print_row(display_name("multififo", flags.threads),
                    picos::mux::multififo::run(bench, multififo_options(flags.threads)));
    ok &= print_row("libevent", picos::mux::libevent::run(bench));
    std::printf(
        "(thread is left out: one OS thread per fiber would be %ld threads here; "
        "try --scheduler=thread with a small --clients)\n",
        2 * flags.clients);
  } else {
    std::string row = display_name(name, flags.threads);
    if (flags.scheduler.empty()) row += ", default";
    ok &= print_row(row, run_on(name, flags.threads, bench));
  }
  double ms = run_on(name, flags.threads, silent_peer_timeout);
  std::printf(
      "timeout: a read from a silent peer, wrapped in Control::terminate_after(500 ms), "
      "ended with Terminate after %.1f ms (%s)\n",
      ms, name.c_str());
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = parse_flags(argc, argv);

  rlim_t fds = raise_fd_limit();
  if (flags.serve >= 0) {
    const long limit = fds == RLIM_INFINITY ? 10000000L : static_cast<long>(fds);
    if (limit < kServerMinFds) {
      std::fprintf(stderr,
                   "demo: the server needs at least %ld file descriptors (%ld for itself: the "
                   "listener, the signal descriptor, the schedulers' epoll sets, headroom; "
                   "plus one per open connection), but RLIMIT_NOFILE allows only %ld (the hard "
                   "limit).\n"
                   "      Raise it (e.g. `ulimit -n 4096`).\n",
                   kServerMinFds, kServerReserveFds, limit);
      return 1;
    }
    if (flags.max_connections == 0) flags.max_connections = limit - kServerReserveFds;
    if (flags.max_connections > limit - kServerReserveFds) {
      std::fprintf(stderr,
                   "demo: --max-connections=%ld is more than RLIMIT_NOFILE (%ld) leaves for "
                   "connections (%ld): accept will run out of descriptors and pause\n",
                   flags.max_connections, limit, limit - kServerReserveFds);
    }
  } else {
    long need = 2 * flags.clients + 64;
    if (fds != RLIM_INFINITY && static_cast<long>(fds) < need) {
      std::fprintf(stderr,
                   "demo: %ld clients need about %ld file descriptors (one per client and one "
                   "per server connection), but RLIMIT_NOFILE allows only %lu (the hard "
                   "limit).\n"
                   "      Raise it (e.g. `ulimit -Hn 65536` as root, or limits.conf) or use a "
                   "smaller --clients.\n",
                   flags.clients, need, static_cast<unsigned long>(fds));
      return 1;
    }
  }

  try {
    if (flags.serve >= 0) {
      // Before any thread exists (schedulers' workers, the default reactor's thread): every
      // thread inherits the blocked mask, so SIGINT/SIGTERM stay pending for the signalfd.
      io::SignalSet stop({SIGINT, SIGTERM});
      std::string name = scheduler_name(flags);
      run_on(name, flags.threads, [&] {
        serve(flags.serve, flags.grace, flags.max_connections, display_name(name, flags.threads),
              stop);
      });
      return 0;
    }
    return benchmark(flags);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo: error: %s\n", e.what());
    if (std::strstr(e.what(), "Too many open files")) {
      std::fprintf(stderr, "demo: raise the descriptor limit (ulimit -n) or use fewer --clients\n");
    }
    return 1;
  }
}
