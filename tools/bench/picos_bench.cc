// Copyright 2026 The Picos for C++ Authors.
//
// tools/bench/picos_bench.cc — the suite's workloads on every Picos scheduler that applies
// (fifo, multififo with 1 and 2 workers, each also with child_first as fifo_cf and
// multififo_cf, libevent, thread), one result line each:
//   bench=<name> impl=picos-<scheduler> threads=<workers> value=<number> unit=<unit>
// Best of --reps (3) after --warmup (1) untimed runs; sizes default to the table and
// are overridable (--help lists the flags); --quick shrinks them for a smoke run.
// Each figure times exactly the region, measured inside the scheduler's main fiber
// (scheduler start-up and shutdown are outside it). A wrong result prints value=FAILED and
// makes the exit status 1. The Boost.Fiber peer is boost_fiber_bench.cc, the plain C epoll
// loop (echo's peer) runs through epoll_echo_peer.cc; tools/bench.sh runs them all and
// prints the summary table.
// echo is a loopback TCP echo server and its clients written with picos::structured::Flock
// and picos::io (the shape of tools/demo/demo.cc). close_idle closes N idle connections
// (socketpairs), each with a fiber blocked in io::read on the end closed, and times the first
// close -> every reader woken (what a reactor's forget costs, N times). rss_parked (resident
// KiB per parked fiber) runs only when --only names it, one measurement with no warm-up:
// pooled stacks and freed heap would hide the cost, so it wants a fresh process per impl
// (--impl=, --threads=).
// The thread scheduler (impl picos-thread, every fiber an OS thread, threads= the number of
// online CPUs) runs every workload but skynet (1.1 million threads), with the smaller
// --thread_* sizes where the usual ones would take minutes or too many threads.
//   bazel run -c opt //tools/bench:picos_bench -- --quick

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "io/blocking.h"
#include "io/io.h"
#include "mux/fifo/fifo.h"
#include "mux/libevent/libevent.h"
#include "mux/multififo/multififo.h"
#include "mux/thread/thread.h"
#include "picos/picos.h"
#include "std/structured/structured.h"
#include "std/sync/channel.h"
#include "std/sync/latch.h"
#include "std/sync/mutex.h"
#include "tools/bench/bench_util.h"
#include "tools/demo/loopback.h"

namespace {

using bench::Sizes;
using bench::Timer;
using picos::Computation;
using picos::Fiber;
using picos::PackedComputation;
using picos::Trigger;
using picos::structured::Flock;
using picos::structured::OnReturn;
using Runner = std::function<void(std::function<void()>)>;
using i64 = std::int64_t;
namespace io = picos::io;
using picos::tools::FdGuard;
using picos::tools::listen_loopback;
using picos::tools::no_delay;

struct Impl {
  std::string name;
  int threads;
  Runner run;
  // Runs only the workloads that wait for descriptors (echo, close_idle): an impl that
  // differs from another only in its reactor.
  bool io_only = false;
};

std::vector<Impl> impls() {
  using picos::ReactorKind;
  auto multififo = [](int threads, bool child_first, ReactorKind reactor = ReactorKind::kDefault) {
    return [threads, child_first, reactor](std::function<void()> f) {
      picos::mux::multififo::Options o;
      o.threads = threads;
      o.child_first = child_first;
      o.reactor = reactor;
      picos::mux::multififo::run(f, o);
    };
  };
  auto fifo = [](bool child_first, ReactorKind reactor = ReactorKind::kDefault) {
    return [child_first, reactor](std::function<void()> f) {
      picos::mux::fifo::Options o;
      o.child_first = child_first;
      o.reactor = reactor;
      picos::mux::fifo::run(f, o);
    };
  };
  // *_cf: Options::child_first (spawn runs the child at once), like Boost.Fiber's
  // launch::dispatch that boost_fiber_bench uses for the spawn-heavy workloads.
  return {
      {"picos-fifo", 1, fifo(false)},
      {"picos-fifo_cf", 1, fifo(true)},
      {"picos-multififo", 1, multififo(1, false)},
      {"picos-multififo", 2, multififo(2, false)},
      {"picos-multififo_cf", 1, multififo(1, true)},
      {"picos-multififo_cf", 2, multififo(2, true)},
      // *_uring: Options::reactor = kIoUring (poller/uring_poller.h; epoll where unavailable).
      {"picos-fifo_uring", 1, fifo(false, ReactorKind::kIoUring), true},
      {"picos-multififo_uring", 1, multififo(1, false, ReactorKind::kIoUring), true},
      {"picos-multififo_uring", 2, multififo(2, false, ReactorKind::kIoUring), true},
      {"picos-libevent", 1, [](std::function<void()> f) { picos::mux::libevent::run(f); }},
      // Every fiber an OS thread: as many run at once as there are CPUs.
      {"picos-thread", bench::online_cpus(),
       [](std::function<void()> f) { picos::mux::thread::run(f); }},
  };
}

// Spawns `body` in a fresh fiber with its own computation (finished when body returns).
Computation<void> go(std::function<void()> body) {
  Computation<void> c;
  Fiber::spawn(Fiber::create(c), [c, body = std::move(body)] { c.capture(body); });
  return c;
}

// The gated workloads' timing: lets the fibers spawned so far reach `gate` (they wait on it),
// then times from opening it until `timed` returns.
template <typename F>
void open_gate_timed(Timer& t, const Computation<void>& gate, F timed) {
  Fiber::yield();
  t.start();
  gate.finish();
  timed();
  t.stop();
}

// The one-fiber workloads' timing: `op` called n times in one fiber, timed from the first
// call to the last; ns per call, or -1 unless every call returned true.
template <typename Op>
double ns_per_call(const Runner& run, i64 n, Op op) {
  Timer t;
  i64 ok = 0;
  run([&] {
    t.start();
    for (i64 i = 0; i < n; ++i) ok += op();
    t.stop();
  });
  return ok == n ? t.ns / static_cast<double>(n) : -1;
}

// yield: 2 fibers, each yields n times; gate -> both done; ns per yield.
double yield_once(const Runner& run, i64 n) {
  Timer t;
  run([&] {
    Computation<void> gate;
    auto body = [&gate, n] {
      gate.wait();
      for (i64 i = 0; i < n; ++i) Fiber::yield();
    };
    Computation<void> a = go(body), b = go(body);
    open_gate_timed(t, gate, [&] {
      a.wait();
      b.wait();
    });
  });
  return t.ns / static_cast<double>(2 * n);
}

// Spawns n fibers (one shared computation) that each run `body`, and waits until all have
// finished; the timed region is the spawn loop and the wait. Returns the ns, or -1.
template <typename Body>
double spawn_all_ns(const Runner& run, i64 n, Body body) {
  Timer t;
  bool ok = false;
  run([&] {
    PackedComputation shared;
    std::atomic<i64> left{n};
    Computation<void> done;
    t.start();
    for (i64 i = 0; i < n; ++i) {
      Fiber::spawn(Fiber::create(shared), [&left, done, body] {
        body();
        if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) done.finish();
      });
    }
    done.wait();
    t.stop();
    ok = left.load() == 0;
  });
  return ok ? t.ns : -1;
}

// spawn_join: spawn n empty fibers (one shared computation), wait until all have run.
double spawn_join_once(const Runner& run, i64 n) {
  const double ns = spawn_all_ns(run, n, [] {});
  return ns < 0 ? -1 : ns / static_cast<double>(n);
}

i64 skynet(i64 num, i64 size) {
  if (size == 1) return num;
  const i64 child = size / 10;
  Computation<i64> children[10];
  for (i64 i = 0; i < 10; ++i) {
    Computation<i64> c = children[i];
    Fiber::spawn(Fiber::create(c), [c, sub = num + i * child, child] {
      c.capture([&] { return skynet(sub, child); });
    });
  }
  i64 sum = 0;
  for (const Computation<i64>& c : children) sum += c.await();
  return sum;
}

// skynet: the whole tree; ms.
double skynet_once(const Runner& run, i64 leaves) {
  Timer t;
  i64 sum = 0;
  run([&] {
    t.start();
    sum = skynet(0, leaves);
    t.stop();
  });
  return sum == bench::skynet_expected(leaves) ? t.ns / 1e6 : -1;
}

// mutex: `fibers` fibers x `ops` x {lock; counter++; yield; unlock}; gate -> all done; ns/op.
double mutex_once(const Runner& run, i64 fibers, i64 ops) {
  Timer t;
  i64 counter = 0;
  run([&] {
    picos::sync::Mutex m;
    Computation<void> gate;
    std::vector<Computation<void>> done;
    for (i64 f = 0; f < fibers; ++f) {
      done.push_back(go([&] {
        gate.wait();
        for (i64 i = 0; i < ops; ++i) {
          m.lock();
          ++counter;
          Fiber::yield();
          m.unlock();
        }
      }));
    }
    open_gate_timed(t, gate, [&] {
      for (const auto& d : done) d.wait();
    });
  });
  return counter == fibers * ops ? t.ns / static_cast<double>(fibers * ops) : -1;
}

// chan_pingpong: 2 fibers, n round trips over two rendezvous channels; gate -> done.
double pingpong_once(const Runner& run, i64 n) {
  Timer t;
  i64 last = -1;
  run([&] {
    picos::sync::Channel<i64> ping(0), pong(0);
    Computation<void> gate;
    Computation<void> a = go([&] {
      gate.wait();
      for (i64 i = 0; i < n; ++i) {
        ping.send(i);
        last = *pong.receive();
      }
    });
    Computation<void> b = go([&] {
      gate.wait();
      for (i64 i = 0; i < n; ++i) pong.send(*ping.receive() + 1);
    });
    open_gate_timed(t, gate, [&] { a.wait(); });
    b.wait();
  });
  return last == n ? t.ns / static_cast<double>(n) : -1;
}

// chan_throughput: capacity 64, 1 producer, 1 consumer, n ints; gate -> consumer done.
double throughput_once(const Runner& run, i64 n) {
  Timer t;
  i64 sum = 0;
  run([&] {
    picos::sync::Channel<int> ch(64);
    Computation<void> gate;
    Computation<void> producer = go([&] {
      gate.wait();
      for (i64 i = 0; i < n; ++i) ch.send(static_cast<int>(i));
      ch.close();
    });
    Computation<void> consumer = go([&] {
      gate.wait();
      while (std::optional<int> v = ch.receive()) sum += *v;
    });
    open_gate_timed(t, gate, [&] { consumer.wait(); });
    producer.wait();
  });
  return sum == n * (n - 1) / 2 ? t.ns / static_cast<double>(n) : -1;
}

i64 fib(i64 n) {
  if (n < bench::kFibSpawnMin) return bench::fib_seq(n);
  Computation<i64> c;
  Fiber::spawn(Fiber::create(c), [c, n] { c.capture([n] { return fib(n - 1); }); });
  i64 b = fib(n - 2);
  return b + c.await();
}

// fib: fib(n), a fiber for fib(n-1) when n >= 20, fib(n-2) inline; whole; ms.
double fib_once(const Runner& run, i64 n) {
  Timer t;
  i64 r = -1;
  run([&] {
    t.start();
    r = fib(n);
    t.stop();
  });
  return r == bench::fib_expected(n) ? t.ns / 1e6 : -1;
}

// timers: n x {cancel_after 1 hour; complete the computation so the timer is cancelled}.
double timers_once(const Runner& run, i64 n) {
  const std::exception_ptr reason = std::make_exception_ptr(std::runtime_error("timeout"));
  return ns_per_call(run, n, [&] {
    Computation<void> c;
    c.cancel_after(std::chrono::hours(1), reason);
    return c.try_finish();
  });
}

// timers_fire: n fibers each sleep 1 ms; spawn -> the last wakes; ms.
double timers_fire_once(const Runner& run, i64 n) {
  const double ns = spawn_all_ns(run, n, [] { Fiber::sleep(std::chrono::milliseconds(1)); });
  return ns < 0 ? -1 : ns / 1e6;
}

// blocking: n fibers each make a 10 ms blocking call (a thread sleep) through io::run_blocking
// on the default pool; spawn -> the last returns; ms. Serially that is n * 10 ms; on the pool,
// about n * 10 ms / its threads (named in the unit).
double blocking_once(const Runner& run, i64 n) {
  const double ns = spawn_all_ns(run, n, [] {
    picos::io::run_blocking([] { std::this_thread::sleep_for(std::chrono::milliseconds(10)); });
  });
  return ns < 0 ? -1 : ns / 1e6;
}

// trigger: create + signal + await of a trigger already signaled; ns/op.
double trigger_once(const Runner& run, i64 n) {
  return ns_per_call(run, n, [] {
    Trigger tr;
    tr.signal();
    return tr.await() == nullptr;
  });
}

// trigger_2fibers: a fresh trigger handed back and forth between two fibers, n round trips
// (each side creates, publishes, signals the other's and awaits its own); gate -> done.
// Each side alternates between two trigger slots: a slot is reused only after the other side
// has provably returned from signalling it (two hand-offs later).
double trigger_2fibers_once(const Runner& run, i64 n) {
  Timer t;
  i64 rounds = 0;
  run([&] {
    // Release stores and acquire loads: the workload measures the hand-off, not the
    // harness's pointer passing (sequentially consistent stores are an xchg each on x86,
    // two locked instructions per round trip that no trigger operation needs).
    std::atomic<Trigger*> to_a{nullptr}, to_b{nullptr};
    Computation<void> gate;
    Computation<void> b = go([&] {
      std::optional<Trigger> mine[2];
      mine[0].emplace();
      to_b.store(&*mine[0], std::memory_order_release);
      for (i64 i = 0; i < n; ++i) {
        (void)mine[i & 1]->await();
        if (i + 1 < n) {
          mine[(i + 1) & 1].emplace();
          to_b.store(&*mine[(i + 1) & 1], std::memory_order_release);
        }
        to_a.load(std::memory_order_acquire)->signal();
      }
    });
    Computation<void> a = go([&] {
      gate.wait();
      while (to_b.load(std::memory_order_acquire) == nullptr) Fiber::yield();
      std::optional<Trigger> mine[2];
      for (i64 i = 0; i < n; ++i) {
        mine[i & 1].emplace();
        to_a.store(&*mine[i & 1], std::memory_order_release);
        to_b.load(std::memory_order_acquire)->signal();
        (void)mine[i & 1]->await();
        ++rounds;
      }
    });
    open_gate_timed(t, gate, [&] { a.wait(); });
    b.wait();
  });
  return rounds == n ? t.ns / static_cast<double>(n) : -1;
}

// ---- echo -----------------------------------------------------------------------------
// Adapted from tools/demo/demo.cc (per-connection handler; the listener, TCP_NODELAY and
// the descriptor guard are tools/demo/loopback.h).

constexpr std::size_t kEchoMessage = 64;

// Raises the soft RLIMIT_NOFILE to the hard limit (echo holds two descriptors per client).
void raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// The server: accept until terminated, one forked fiber per connection echoing until end of
// file; each connection counts `accepted` down once it is accepted.
void echo_serve(int lfd, picos::sync::Latch& accepted) {
  for (;;) {
    int fd = io::accept(lfd);
    Flock::fork([fd, &accepted] {
      FdGuard guard{fd};
      no_delay(fd);
      accepted.count_down();
      char buf[4096];
      for (;;) {
        ssize_t n = io::read(fd, buf, sizeof buf);
        if (n == 0) return;
        io::write_all(fd, buf, static_cast<std::size_t>(n));
      }
    });
  }
}

// echo: the server and `clients` client fibers in one flock, each client doing `rounds`
// round trips of 64 bytes; every echoed byte is compared with what was sent. Timed: every
// connection established and accepted (clients wait on a gate) -> every client done; round
// trips per second. The server is terminated once the clients are done.
double echo_once(const Runner& run, i64 clients, i64 rounds) {
  Timer t;
  std::atomic<i64> good_rounds{0};
  try {
    run([&] {
      sockaddr_in addr{};
      int lfd = listen_loopback(0, &addr);
      FdGuard lguard{lfd};  // closed after the flock: nothing accepts on it any more
      picos::sync::Latch connected(clients), accepted(clients);
      Computation<void> gate;
      Flock::join_after(
          [&] {
            Flock::fork([&] { echo_serve(lfd, accepted); });
            Flock::join_after([&] {
              for (i64 c = 0; c < clients; ++c) {
                Flock::fork([&, c] {
                  int fd = io::socket(AF_INET, SOCK_STREAM, 0);
                  FdGuard guard{fd};
                  io::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
                  no_delay(fd);
                  connected.count_down();
                  gate.wait();
                  unsigned char out[kEchoMessage], in[kEchoMessage];
                  i64 good = 0;
                  for (i64 k = 0; k < rounds; ++k) {
                    for (std::size_t i = 0; i < kEchoMessage; ++i) {
                      out[i] = static_cast<unsigned char>(c * 131 + k * 7 + static_cast<i64>(i));
                    }
                    io::write_all(fd, out, kEchoMessage);
                    const std::size_t got = io::read_full(fd, in, kEchoMessage);
                    if (got != kEchoMessage || std::memcmp(in, out, kEchoMessage) != 0) {
                      throw std::runtime_error("client " + std::to_string(c) + ", round " +
                                               std::to_string(k) + ": echo mismatch (" +
                                               std::to_string(got) + " of 64 bytes back)");
                    }
                    ++good;
                  }
                  good_rounds.fetch_add(good, std::memory_order_relaxed);
                });
              }
              connected.wait();
              accepted.wait();
              t.start();
              gate.finish();
            });  // waits for every client
            t.stop();
          },
          OnReturn::kTerminate);  // stops the listener (and any handler still reading)
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo: %s\n", e.what());
    return -1;
  }
  const i64 total = clients * rounds;
  return good_rounds.load() == total ? static_cast<double>(total) / (t.ns / 1e9) : -1;
}

// ---- close_idle --------------------------------------------------------------------------

// How many socketpairs (two descriptors each) RLIMIT_NOFILE leaves room for, up to `want`;
// 64 descriptors are kept for everything else.
i64 pairs_allowed(i64 want) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return want;
  const i64 room = (static_cast<i64>(rl.rlim_cur) - 64) / 2;
  return room < want ? (room < 1 ? 1 : room) : want;
}

// close_idle: `n` idle connections (AF_UNIX socketpairs), each with a fiber blocked in
// io::read on its end; the main fiber io::closes every such end, one after the other. Timed:
// the first close -> every reader has woken (each must get EBADF); ms for all n. What it
// measures is the reactor's cost of forgetting a descriptor with waiters, times n: a reactor
// that scans all its waiters per close makes it quadratic.
double close_idle_once(const Runner& run, i64 n) {
  Timer t;
  std::atomic<i64> ebadf{0};
  try {
    run([&] {
      std::vector<int> ends(static_cast<std::size_t>(2 * n), -1);
      struct Closer {
        std::vector<int>& fds;
        ~Closer() {
          for (int fd : fds) {
            if (fd >= 0) io::close(fd);
          }
        }
      } closer{ends};
      for (i64 i = 0; i < n; ++i) io::socketpair(AF_UNIX, SOCK_STREAM, 0, &ends[2 * i]);
      picos::sync::Latch blocked(n), woken(n);
      for (i64 i = 0; i < n; ++i) {
        Fiber::spawn(Fiber::create(PackedComputation()), [&, fd = ends[2 * i]] {
          blocked.count_down();
          try {
            char b;
            (void)io::read(fd, &b, 1);
          } catch (const std::system_error& e) {
            if (e.code().value() == EBADF) ebadf.fetch_add(1, std::memory_order_relaxed);
          }
          woken.count_down();
        });
      }
      blocked.wait();
      io::sleep(0.01);  // the last readers reach their read and block
      t.start();
      for (i64 i = 0; i < n; ++i) io::close(std::exchange(ends[2 * i], -1));
      woken.wait();
      t.stop();
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "close_idle: %s\n", e.what());
    return -1;
  }
  return ebadf.load() == n ? t.ns / 1e6 : -1;
}

// ---- rss_parked --------------------------------------------------------------------------

// rss_parked: `n` fibers, each blocked on one shared gate (a computation). The figure is
// resident memory per parked fiber in KiB: (RSS once all are parked - RSS just before the
// first spawn) / n, RSS from /proc/self/statm. Then the gate opens; every fiber must finish.
double rss_parked_once(const Runner& run, i64 n) {
  double before = -1, parked = -1;
  i64 left_after = -1;
  run([&] {
    PackedComputation shared;
    Computation<void> gate, done;
    picos::sync::Latch arrived(n);
    std::atomic<i64> left{n};
    before = bench::rss_kib();
    for (i64 i = 0; i < n; ++i) {
      Fiber::spawn(Fiber::create(shared), [&arrived, &left, gate, done] {
        arrived.count_down();
        gate.wait();
        if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) done.finish();
      });
    }
    arrived.wait();
    // The last fiber counted down but may not be in gate.wait() yet: let it get there.
    for (int i = 0; i < 10; ++i) Fiber::yield();
    parked = bench::rss_kib();
    gate.finish();
    done.wait();
    left_after = left.load();
  });
  if (before < 0 || parked < 0 || left_after != 0) return -1;
  return (parked - before) / static_cast<double>(n);
}

int run_main(int argc, char** argv) {
  const Sizes s = bench::parse(argc, argv);
  raise_fd_limit();
  std::vector<Impl> all = impls();
  for (int n : s.workers) {
    if (n <= 2) continue;  // already there
    for (bool cf : {false, true}) {
      all.push_back(
          {cf ? "picos-multififo_cf" : "picos-multififo", n, [n, cf](std::function<void()> f) {
             picos::mux::multififo::Options o;
             o.threads = n;
             o.child_first = cf;
             picos::mux::multififo::run(f, o);
           }});
    }
  }
  for (const Impl& impl : all) {
    if (!s.wants_threads(impl.threads) || !s.wants_impl(impl.name)) continue;
    const Runner& run = impl.run;
    const bool thread = impl.name == "picos-thread";
    // The size for this impl: the thread scheduler's own where it has one.
    auto size = [thread](i64 usual, i64 for_thread) { return thread ? for_thread : usual; };
    auto line = [&](const char* name, const char* unit, const std::function<double()>& once,
                    bool higher_is_better = false) {
      const bool io = std::strcmp(name, "echo") == 0 || std::strcmp(name, "close_idle") == 0;
      if (s.wants(name) && (io || !impl.io_only)) {
        bench::report(s, name, impl.name, impl.threads, unit, once, higher_is_better);
      }
    };
    // yield is a one-worker workload; on thread the 2 fibers are 2 OS threads.
    if (impl.threads == 1 || thread) {
      line("yield", "ns/yield", [&] { return yield_once(run, s.yield_n); });
    }
    line("spawn_join", "ns/fiber",
         [&] { return spawn_join_once(run, size(s.spawn_n, s.thread_spawn_n)); });
    if (!thread) line("skynet", "ms", [&] { return skynet_once(run, s.skynet_leaves); });
    line("mutex", "ns/op",
         [&] { return mutex_once(run, s.mutex_fibers, size(s.mutex_ops, s.thread_mutex_ops)); });
    line("chan_pingpong", "ns/roundtrip",
         [&] { return pingpong_once(run, size(s.pingpong_n, s.thread_pingpong_n)); });
    line("chan_throughput", "ns/msg",
         [&] { return throughput_once(run, size(s.throughput_n, s.thread_throughput_n)); });
    line("fib", "ms", [&] { return fib_once(run, s.fib_n); });
    line("timers", "ns/timer", [&] { return timers_once(run, s.timers_n); });
    line("timers_fire", "ms",
         [&] { return timers_fire_once(run, size(s.timers_fire_n, s.thread_timers_fire_n)); });
    line("trigger", "ns/op", [&] { return trigger_once(run, s.trigger_n); });
    if (!thread) {
      const std::string unit =
          "ms_with_" + std::to_string(picos::io::default_blocking_pool().options().threads) +
          "_threads";
      line("blocking", unit.c_str(), [&] { return blocking_once(run, s.blocking_n); });
    }
    line("trigger_2fibers", "ns/roundtrip",
         [&] { return trigger_2fibers_once(run, size(s.trigger_n, s.thread_trigger_2fibers_n)); });
    line(
        "echo", "msg/s", [&] { return echo_once(run, s.echo_clients, s.echo_rounds); },
        /*higher_is_better=*/true);
    if (s.wants("close_idle")) {
      const i64 want = size(s.close_idle_n, s.thread_close_idle_n);
      const i64 n = pairs_allowed(want);
      // The unit names the count when RLIMIT_NOFILE forced a smaller one.
      const std::string unit = n == want ? "ms" : "ms_for_" + std::to_string(n) + "_conns";
      if (n != want) {
        std::fprintf(stderr, "close_idle: RLIMIT_NOFILE allows %lld connections, not %lld (%s)\n",
                     static_cast<long long>(n), static_cast<long long>(want), impl.name.c_str());
      }
      line("close_idle", unit.c_str(), [&] { return close_idle_once(run, n); });
    }
    if (s.wants("rss_parked") && !impl.io_only) {
      bench::report_fresh(s, "rss_parked", impl.name, impl.threads, "KiB/fiber", [&] {
        return rss_parked_once(run, size(s.rss_fibers, s.thread_rss_fibers));
      });
    }
  }
  return bench::failures() == 0 ? 0 : 1;
}

}  // namespace

// A workload that throws (out of descriptors, say) ends the run with a message and status 1.
int main(int argc, char** argv) {
  try {
    return run_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "picos_bench: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "picos_bench: unknown exception\n");
  }
  return 1;
}
