// Copyright 2026 The Picos for C++ Authors.
//
// tools/bench/picos_bench.cc — issue 7's workloads on every Picos scheduler that applies
// (fifo, multififo with 1 and 2 workers, libevent), one result line each:
//   bench=<name> impl=picos-<scheduler> threads=<workers> value=<number> unit=<unit>
// Best of --reps (3) after --warmup (1) untimed runs; sizes default to the table and
// are overridable (--help lists the flags); --quick shrinks them for a smoke run.
// Each figure times exactly the region, measured inside the scheduler's main fiber
// (scheduler start-up and shutdown are outside it). A wrong result prints value=FAILED and
// makes the exit status 1. The Boost.Fiber peer is boost_fiber_bench.cc; tools/bench.sh
// runs both and prints the summary table.
//   bazel run -c opt //tools/bench:picos_bench -- --quick

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mux/fifo/fifo.h"
#include "mux/libevent/libevent.h"
#include "mux/multififo/multififo.h"
#include "picos/picos.h"
#include "std/sync/channel.h"
#include "std/sync/mutex.h"
#include "tools/bench/bench_util.h"

namespace {

using bench::Sizes;
using bench::Timer;
using picos::Computation;
using picos::Fiber;
using picos::PackedComputation;
using picos::Trigger;
using Runner = std::function<void(std::function<void()>)>;
using i64 = std::int64_t;

struct Impl {
  std::string name;
  int threads;
  Runner run;
};

std::vector<Impl> impls() {
  auto multififo = [](int threads) {
    return [threads](std::function<void()> f) {
      picos::mux::multififo::Options o;
      o.threads = threads;
      picos::mux::multififo::run(f, o);
    };
  };
  return {
      {"picos-fifo", 1, [](std::function<void()> f) { picos::mux::fifo::run(f); }},
      {"picos-multififo", 1, multififo(1)},
      {"picos-multififo", 2, multififo(2)},
      {"picos-libevent", 1, [](std::function<void()> f) { picos::mux::libevent::run(f); }},
  };
}

// Spawns `body` in a fresh fiber with its own computation (finished when body returns).
Computation<void> go(std::function<void()> body) {
  Computation<void> c;
  Fiber::spawn(Fiber::create(c), [c, body = std::move(body)] { c.capture(body); });
  return c;
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
    Fiber::yield();  // let both reach the gate
    t.start();
    gate.finish();
    a.wait();
    b.wait();
    t.stop();
  });
  return t.ns / static_cast<double>(2 * n);
}

// spawn_join: spawn n empty fibers (one shared computation), wait until all have run.
double spawn_join_once(const Runner& run, i64 n) {
  Timer t;
  bool ok = false;
  run([&] {
    PackedComputation shared;
    std::atomic<i64> left{n};
    Computation<void> done;
    t.start();
    for (i64 i = 0; i < n; ++i) {
      Fiber::spawn(Fiber::create(shared), [&left, done] {
        if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) done.finish();
      });
    }
    done.wait();
    t.stop();
    ok = left.load() == 0;
  });
  return ok ? t.ns / static_cast<double>(n) : -1;
}

i64 skynet(i64 num, i64 size) {
  if (size == 1) return num;
  const i64 child = size / 10;
  Computation<i64> children[10];
  for (i64 i = 0; i < 10; ++i) {
    Computation<i64> c = children[i];
    Fiber::spawn(Fiber::create(c),
                 [c, sub = num + i * child, child] { c.capture([&] { return skynet(sub, child); }); });
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
    Fiber::yield();
    t.start();
    gate.finish();
    for (const auto& d : done) d.wait();
    t.stop();
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
    Fiber::yield();
    t.start();
    gate.finish();
    a.wait();
    t.stop();
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
    Fiber::yield();
    t.start();
    gate.finish();
    consumer.wait();
    t.stop();
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
  Timer t;
  i64 finished = 0;
  run([&] {
    const std::exception_ptr reason = std::make_exception_ptr(std::runtime_error("timeout"));
    t.start();
    for (i64 i = 0; i < n; ++i) {
      Computation<void> c;
      c.cancel_after(std::chrono::hours(1), reason);
      finished += c.try_finish();
    }
    t.stop();
  });
  return finished == n ? t.ns / static_cast<double>(n) : -1;
}

// timers_fire: n fibers each sleep 1 ms; spawn -> the last wakes; ms.
double timers_fire_once(const Runner& run, i64 n) {
  Timer t;
  bool ok = false;
  run([&] {
    PackedComputation shared;
    std::atomic<i64> left{n};
    Computation<void> done;
    t.start();
    for (i64 i = 0; i < n; ++i) {
      Fiber::spawn(Fiber::create(shared), [&left, done] {
        Fiber::sleep(std::chrono::milliseconds(1));
        if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) done.finish();
      });
    }
    done.wait();
    t.stop();
    ok = left.load() == 0;
  });
  return ok ? t.ns / 1e6 : -1;
}

// trigger: create + signal + await of a trigger already signaled; ns/op.
double trigger_once(const Runner& run, i64 n) {
  Timer t;
  i64 ok = 0;
  run([&] {
    t.start();
    for (i64 i = 0; i < n; ++i) {
      Trigger tr;
      tr.signal();
      ok += tr.await() == nullptr;
    }
    t.stop();
  });
  return ok == n ? t.ns / static_cast<double>(n) : -1;
}

// trigger_2fibers: a fresh trigger handed back and forth between two fibers, n round trips
// (each side creates, publishes, signals the other's and awaits its own); gate -> done.
// Each side alternates between two trigger slots: a slot is reused only after the other side
// has provably returned from signalling it (two hand-offs later).
double trigger_2fibers_once(const Runner& run, i64 n) {
  Timer t;
  i64 rounds = 0;
  run([&] {
    std::atomic<Trigger*> to_a{nullptr}, to_b{nullptr};
    Computation<void> gate;
    Computation<void> b = go([&] {
      std::optional<Trigger> mine[2];
      mine[0].emplace();
      to_b.store(&*mine[0]);
      for (i64 i = 0; i < n; ++i) {
        (void)mine[i & 1]->await();
        if (i + 1 < n) {
          mine[(i + 1) & 1].emplace();
          to_b.store(&*mine[(i + 1) & 1]);
        }
        to_a.load()->signal();
      }
    });
    Computation<void> a = go([&] {
      gate.wait();
      while (to_b.load() == nullptr) Fiber::yield();
      std::optional<Trigger> mine[2];
      for (i64 i = 0; i < n; ++i) {
        mine[i & 1].emplace();
        to_a.store(&*mine[i & 1]);
        to_b.load()->signal();
        (void)mine[i & 1]->await();
        ++rounds;
      }
    });
    Fiber::yield();
    t.start();
    gate.finish();
    a.wait();
    t.stop();
    b.wait();
  });
  return rounds == n ? t.ns / static_cast<double>(n) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  const Sizes s = bench::parse(argc, argv);
  for (const Impl& impl : impls()) {
    if (!s.wants_threads(impl.threads)) continue;
    const Runner& run = impl.run;
    auto line = [&](const char* name, const char* unit, std::function<double()> once) {
      if (s.wants(name)) bench::report(s, name, impl.name, impl.threads, unit, once);
    };
    if (impl.threads == 1) line("yield", "ns/yield", [&] { return yield_once(run, s.yield_n); });
    line("spawn_join", "ns/fiber", [&] { return spawn_join_once(run, s.spawn_n); });
    line("skynet", "ms", [&] { return skynet_once(run, s.skynet_leaves); });
    line("mutex", "ns/op", [&] { return mutex_once(run, s.mutex_fibers, s.mutex_ops); });
    line("chan_pingpong", "ns/roundtrip", [&] { return pingpong_once(run, s.pingpong_n); });
    line("chan_throughput", "ns/msg", [&] { return throughput_once(run, s.throughput_n); });
    line("fib", "ms", [&] { return fib_once(run, s.fib_n); });
    line("timers", "ns/timer", [&] { return timers_once(run, s.timers_n); });
    line("timers_fire", "ms", [&] { return timers_fire_once(run, s.timers_fire_n); });
    line("trigger", "ns/op", [&] { return trigger_once(run, s.trigger_n); });
    line("trigger_2fibers", "ns/roundtrip",
         [&] { return trigger_2fibers_once(run, s.trigger_n); });
  }
  return bench::failures() == 0 ? 0 : 1;
}
