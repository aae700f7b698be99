// Copyright 2026 The Picos for C++ Authors.
//
// The demo: an echo server written with picos::structured::Flock and picos::io (a listener
// fiber accepting on 127.0.0.1, one forked fiber per connection echoing until end of file),
// driven by N client fibers in the same process, each doing R round trips of a 64-byte
// message over loopback. Every echoed byte is checked and every round trip timed; it prints
// one table row per scheduler: connections, round trips/s, p50 and p99 latency. Then one line
// shows a timeout composing with io: a read from a silent peer cut short by
// Control::terminate_after.
//
//   bazel run -c opt //tools/demo -- [--clients=N] [--rounds=R] [--all] [--serve=PORT]
//
// Without --all the scheduler is the build's (//mux:default, picked with
// --//mux:scheduler=fifo|multififo|libevent|thread|randos). --all runs the same code once on
// each of fifo, multififo and libevent, linked directly: the scheduler is a choice made per
// binary (or per run call), not something the server or client code knows about.
// --serve=PORT runs only the server, on 127.0.0.1:PORT, until killed (try `nc 127.0.0.1 PORT`).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "io/io.h"
#include "mux/default.h"
#include "mux/fifo/fifo.h"
#include "mux/libevent/libevent.h"
#include "mux/multififo/multififo.h"
#include "std/structured/structured.h"

namespace {

using picos::structured::Control;
using picos::structured::Flock;
using picos::structured::OnReturn;
using Clock = std::chrono::steady_clock;
namespace io = picos::io;

constexpr std::size_t kMessage = 64;
constexpr long kDefaultClients = 1000;
constexpr long kDefaultRounds = 50;

const char kUsage[] =
    "usage: demo [--clients=N] [--rounds=R] [--all] | --serve=PORT\n"
    "  --clients=N   client fibers, one connection each (default 1000)\n"
    "  --rounds=R    64-byte round trips per client (default 50)\n"
    "  --all         run once per scheduler: fifo, multififo, libevent\n"
    "  --serve=PORT  only run the echo server on 127.0.0.1:PORT until killed (0: any port)\n";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "demo: %s\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

struct Flags {
  long clients = kDefaultClients;
  long rounds = kDefaultRounds;
  bool all = false;
  long serve = -1;  // port, or -1: no --serve
};

long parse_number(const std::string& flag, const char* text, long min, long max) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
    usage_error(flag + " needs an integer in [" + std::to_string(min) + ", " +
                std::to_string(max) + "], got '" + text + "'");
  }
  return v;
}

Flags parse_flags(int argc, char** argv) {
  Flags f;
  bool clients_set = false, rounds_set = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    std::string name = arg.substr(0, eq);
    const char* value = eq == std::string::npos ? nullptr : argv[i] + eq + 1;
    auto need_value = [&] {
      if (!value) usage_error(name + " needs a value (" + name + "=...)");
    };
    if (name == "--help" || name == "-h") {
      std::printf("%s", kUsage);
      std::exit(0);
    } else if (name == "--clients") {
      need_value();
      f.clients = parse_number(name, value, 1, 100000);
      clients_set = true;
    } else if (name == "--rounds") {
      need_value();
      f.rounds = parse_number(name, value, 1, 10000000);
      rounds_set = true;
    } else if (name == "--serve") {
      need_value();
      f.serve = parse_number(name, value, 0, 65535);
    } else if (name == "--all") {
      if (value) usage_error("--all takes no value, got '" + arg + "'");
      f.all = true;
    } else {
      usage_error("unknown argument '" + arg + "'");
    }
  }
  if (f.serve >= 0 && (f.all || clients_set || rounds_set)) {
    usage_error("--serve runs only the server: it cannot be combined with --all, --clients "
                "or --rounds");
  }
  if (f.clients * f.rounds > 200000000L) {
    usage_error("--clients x --rounds must be at most 200,000,000 round trips");
  }
  return f;
}

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force.
rlim_t raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return rl.rlim_cur;
}

void no_delay(int fd) {
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// A listening socket on 127.0.0.1:port (0: the kernel picks); `addr` receives the address.
int listen_loopback(int port, sockaddr_in* addr) {
  int fd = io::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  *addr = sockaddr_in{};
  addr->sin_family = AF_INET;
  addr->sin_port = htons(static_cast<std::uint16_t>(port));
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof *addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(addr), len) != 0 ||
      ::listen(fd, SOMAXCONN) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(addr), &len) != 0) {
    int e = errno;
    io::close(fd);
    throw std::system_error(e, std::generic_category(),
                            "listening on 127.0.0.1:" + std::to_string(port));
  }
  return fd;
}

// Closes a descriptor when the fiber owning it ends, however it ends (Terminate included).
struct FdGuard {
  int fd;
  ~FdGuard() { io::close(fd); }
};

// One connection: echo until end of file.
void handle(int fd) {
  FdGuard guard{fd};
  no_delay(fd);
  char buf[4096];
  for (;;) {
    ssize_t n = io::read(fd, buf, sizeof buf);
    if (n == 0) return;
    io::write_all(fd, buf, static_cast<std::size_t>(n));
  }
}

// The seed's server: accept forever, fork one handler fiber per connection into the current
// flock. Running out of descriptors (EMFILE) is reported once and retried after a pause.
void serve(int lfd) {
  bool warned = false;
  for (;;) {
    int fd = -1;
    bool out_of_fds = false;
    try {
      fd = io::accept(lfd);
    } catch (const std::system_error& e) {
      if (e.code().value() != EMFILE && e.code().value() != ENFILE) throw;
      out_of_fds = true;
    }
    if (out_of_fds) {  // not inside the catch: never suspend in a handler
      if (!warned) {
        std::fprintf(stderr, "demo: out of file descriptors, accept backs off (raise ulimit -n)\n");
        warned = true;
      }
      io::sleep(0.01);
      continue;
    }
    Flock::fork([fd] { handle(fd); });
  }
}

struct Result {
  long connections = 0;
  long round_trips = 0;
  double seconds = 0;
  double p50_us = 0, p99_us = 0;
};

// Runs inside a scheduler's main fiber: server + clients in one flock, the server terminated
// once every client is done.
Result echo_benchmark(long clients, long rounds) {
  Result r;
  std::vector<std::uint32_t> lat_ns(static_cast<std::size_t>(clients * rounds));
  sockaddr_in addr{};
  int lfd = listen_loopback(0, &addr);
  FdGuard lguard{lfd};  // closed after the flock: nothing accepts on it any more
  Flock::join_after(
      [&] {
        Flock::fork([lfd] { serve(lfd); });
        auto t0 = Clock::now();
        Flock::join_after([&] {
          for (long c = 0; c < clients; ++c) {
            Flock::fork([&, c] {
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
                lat[k] = static_cast<std::uint32_t>(
                    std::min<std::int64_t>(ns.count(), INT32_MAX));
              }
            });
          }
        });
        r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      },
      OnReturn::kTerminate);  // stops the listener (and any handler still reading)
  r.connections = clients;
  r.round_trips = clients * rounds;
  auto pct = [&](double p) {
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

void print_row(const std::string& name, const Result& r) {
  std::printf("%-24s %11ld %14.0f %10.1f %10.1f\n", name.c_str(), r.connections,
              static_cast<double>(r.round_trips) / r.seconds, r.p50_us, r.p99_us);
  std::fflush(stdout);
}

std::string multififo_name() {
  return "multififo (" + std::to_string(picos::mux::multififo::resolved_threads({})) +
         " workers)";
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

int serve_only(long port) {
  picos::mux::run([port] {
    sockaddr_in addr{};
    int lfd = listen_loopback(static_cast<int>(port), &addr);
    FdGuard lguard{lfd};
    std::printf("echo server on 127.0.0.1:%d (scheduler %s); stop it with Ctrl-C\n",
                ntohs(addr.sin_port), picos::mux::default_scheduler_name());
    std::fflush(stdout);
    Flock::join_after([lfd] {
      // Keeps a timer pending: fibers waiting in the background epoll reactor look idle to
      // fifo/multififo, which would otherwise warn once that they have been blocked 10 s.
      Flock::fork([] {
        for (;;) io::sleep(3600.0);
      });
      serve(lfd);
    });
  });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = parse_flags(argc, argv);

  rlim_t fds = raise_fd_limit();
  long need = flags.serve >= 0 ? 64 : 2 * flags.clients + 64;
  if (fds != RLIM_INFINITY && static_cast<long>(fds) < need) {
    std::fprintf(stderr,
                 "demo: %ld clients need about %ld file descriptors (one per client and one per "
                 "server connection), but RLIMIT_NOFILE allows only %lu (the hard limit).\n"
                 "      Raise it (e.g. `ulimit -Hn 65536` as root, or limits.conf) or use a "
                 "smaller --clients.\n",
                 flags.clients, need, static_cast<unsigned long>(fds));
    return 1;
  }

  try {
    if (flags.serve >= 0) return serve_only(flags.serve);

    std::printf("echo over loopback TCP: %ld client fibers x %ld round trips of %zu bytes, "
                "every byte checked\n",
                flags.clients, flags.rounds, kMessage);
    print_header();
    auto bench = [&] { return echo_benchmark(flags.clients, flags.rounds); };
    std::string default_name = picos::mux::default_scheduler_name();
    if (flags.all) {
      print_row("fifo", picos::mux::fifo::run(bench));
      print_row(multififo_name(), picos::mux::multififo::run(bench));
      print_row("libevent", picos::mux::libevent::run(bench));
      std::printf("(thread is left out: one OS thread per fiber would be %ld threads here; "
                  "try --//mux:scheduler=thread with a small --clients)\n",
                  2 * flags.clients);
    } else {
      std::string name = default_name == "multififo" ? multififo_name() : default_name;
      print_row(name + ", default", picos::mux::run(bench));
    }
    double ms = picos::mux::run(silent_peer_timeout);
    std::printf("timeout: a read from a silent peer, wrapped in Control::terminate_after(500 ms), "
                "ended with Terminate after %.1f ms (%s)\n",
                ms, default_name.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo: error: %s\n", e.what());
    if (std::strstr(e.what(), "Too many open files")) {
      std::fprintf(stderr, "demo: raise the descriptor limit (ulimit -n) or use fewer --clients\n");
    }
    return 1;
  }
  return 0;
}
