// Copyright 2026 The Picos for C++ Authors.
//
// tools/bench/boost_fiber_bench.cc — the peer: the suite's workloads written against Boost.Fiber
// (Debian's libboost-fiber-dev, 1.74), printing the same lines as picos_bench with
// impl=boost_fiber:
//   bench=<name> impl=boost_fiber threads=<workers> value=<number> unit=<unit>
// 1 worker: the calling thread with Boost.Fiber's default round_robin algorithm and a
// pooled_fixedsize_stack (Boost's stack pool is not thread-safe). 2 workers: the calling
// thread plus one helper thread, both with algo::work_stealing(2) (Boost's default: idle
// workers spin), and fixedsize_stack. Stacks are 64 KiB, as Picos' default. Same flags,
// sizes, timed regions and checks as picos_bench (see tools/bench/bench_util.h).
// spawn_join and skynet create their fibers with launch::dispatch (the child runs at once,
// work-first) unless --boost_launch=post: Boost.Fiber allocates a fiber's stack when it is
// created (Picos when it first runs), so with post the 10^6 queued fibers of these two
// workloads hold ~13-15 GB of stacks on this VM (measured: 1.3 GB per 100,000). Every other
// workload uses post, Boost's default.
// rss_parked (resident KiB per parked fiber, 64 KiB stacks as everywhere here) runs only when
// --only names it, once, with no warm-up: the stack pool and malloc's free lists would hide
// the cost, so tools/bench.sh runs it in a fresh process per worker count (--threads=).
// Not here (no Boost.Fiber equivalent): timers (cancel_after), trigger; echo (Boost.Fiber
// has no IO integration: a blocking socket call would block the whole worker thread).
//   bazel run -c opt //tools/bench:boost_fiber_bench -- --quick

#include <algorithm>
#include <atomic>
#include <boost/fiber/all.hpp>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tools/bench/bench_util.h"

namespace {

namespace bf = boost::fibers;
using bench::Sizes;
using bench::Timer;
using i64 = std::int64_t;

constexpr std::size_t kStackSize = 64 * 1024;

// A one-shot gate fibers wait on (fiber-aware; may be opened from another thread).
class Gate {
 public:
  void wait() {
    std::unique_lock<bf::mutex> l(m_);
    cv_.wait(l, [this] { return open_; });
  }
  void open() {
    {
      std::lock_guard<bf::mutex> l(m_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  bf::mutex m_;
  bf::condition_variable cv_;
  bool open_ = false;
};

template <typename Salloc, typename F>
bf::fiber go(Salloc& salloc, F&& f) {
  return bf::fiber(std::allocator_arg, salloc, std::forward<F>(f));
}

// How spawn_join and skynet launch their fibers (--boost_launch=dispatch|post).
bf::launch g_bulk_launch = bf::launch::dispatch;

template <typename Salloc, typename F>
bf::fiber go_bulk(Salloc& salloc, F&& f) {
  return bf::fiber(g_bulk_launch, std::allocator_arg, salloc, std::forward<F>(f));
}

// The gated workloads' timing: lets the fibers launched so far reach `gate` (they wait on it),
// then times from opening it until `timed` returns.
template <typename F>
void open_gate_timed(Timer& t, Gate& gate, F timed) {
  boost::this_fiber::yield();
  t.start();
  gate.open();
  timed();
  t.stop();
}

template <typename Salloc>
double yield_once(Salloc& sa, i64 n) {
  Timer t;
  Gate gate;
  auto body = [&gate, n] {
    gate.wait();
    for (i64 i = 0; i < n; ++i) boost::this_fiber::yield();
  };
  bf::fiber a = go(sa, body), b = go(sa, body);
  open_gate_timed(t, gate, [&] {
    a.join();
    b.join();
  });
  return t.ns / static_cast<double>(2 * n);
}

// Launches n detached fibers (go_bulk if `bulk`, else go) that each run `body`, and waits
// until all have finished; the timed region is the launch loop and the wait. Returns the ns,
// or -1. (picos_bench's spawn_all_ns.)
template <typename Salloc, typename Body>
double spawn_all_ns(Salloc& sa, i64 n, bool bulk, const Body& body) {
  Timer t;
  std::atomic<i64> left{n};
  Gate done;
  auto fiber = [&body, &left, &done] {
    body();
    if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) done.open();
  };
  t.start();
  for (i64 i = 0; i < n; ++i) (bulk ? go_bulk(sa, fiber) : go(sa, fiber)).detach();
  done.wait();
  t.stop();
  return left.load() == 0 ? t.ns : -1;
}

template <typename Salloc>
double spawn_join_once(Salloc& sa, i64 n) {
  const double ns = spawn_all_ns(sa, n, /*bulk=*/true, [] {});
  return ns < 0 ? -1 : ns / static_cast<double>(n);
}

template <typename Salloc>
i64 skynet(Salloc& sa, i64 num, i64 size) {
  if (size == 1) return num;
  const i64 child = size / 10;
  i64 results[10];
  bf::fiber children[10];
  for (i64 i = 0; i < 10; ++i) {
    children[i] = go_bulk(sa, [&sa, &results, i, sub = num + i * child, child] {
      results[i] = skynet(sa, sub, child);
    });
  }
  i64 sum = 0;
  for (i64 i = 0; i < 10; ++i) {
    children[i].join();
    sum += results[i];
  }
  return sum;
}

template <typename Salloc>
double skynet_once(Salloc& sa, i64 leaves) {
  Timer t;
  t.start();
  i64 sum = skynet(sa, 0, leaves);
  t.stop();
  return sum == bench::skynet_expected(leaves) ? t.ns / 1e6 : -1;
}

template <typename Salloc>
double mutex_once(Salloc& sa, i64 fibers, i64 ops) {
  Timer t;
  i64 counter = 0;
  bf::mutex m;
  Gate gate;
  std::vector<bf::fiber> all;
  for (i64 f = 0; f < fibers; ++f) {
    all.push_back(go(sa, [&] {
      gate.wait();
      for (i64 i = 0; i < ops; ++i) {
        m.lock();
        ++counter;
        boost::this_fiber::yield();
        m.unlock();
      }
    }));
  }
  open_gate_timed(t, gate, [&] {
    for (bf::fiber& f : all) f.join();
  });
  return counter == fibers * ops ? t.ns / static_cast<double>(fibers * ops) : -1;
}

template <typename Salloc>
double pingpong_once(Salloc& sa, i64 n) {
  Timer t;
  i64 last = -1;
  bf::unbuffered_channel<i64> ping, pong;
  Gate gate;
  bf::fiber a = go(sa, [&] {
    gate.wait();
    for (i64 i = 0; i < n; ++i) {
      ping.push(i);
      last = pong.value_pop();
    }
  });
  bf::fiber b = go(sa, [&] {
    gate.wait();
    for (i64 i = 0; i < n; ++i) pong.push(ping.value_pop() + 1);
  });
  open_gate_timed(t, gate, [&] { a.join(); });
  b.join();
  return last == n ? t.ns / static_cast<double>(n) : -1;
}

template <typename Salloc>
double throughput_once(Salloc& sa, i64 n) {
  Timer t;
  i64 sum = 0;
  // Boost's buffered_channel needs a power-of-2 capacity; it is a ring that holds
  // capacity - 1 values, so 64 here buffers 63 (Picos' channel buffers 64).
  bf::buffered_channel<int> ch(64);
  Gate gate;
  bf::fiber producer = go(sa, [&] {
    gate.wait();
    for (i64 i = 0; i < n; ++i) ch.push(static_cast<int>(i));
    ch.close();
  });
  bf::fiber consumer = go(sa, [&] {
    gate.wait();
    int v;
    while (ch.pop(v) == bf::channel_op_status::success) sum += v;
  });
  open_gate_timed(t, gate, [&] { consumer.join(); });
  producer.join();
  return sum == n * (n - 1) / 2 ? t.ns / static_cast<double>(n) : -1;
}

template <typename Salloc>
i64 fib(Salloc& sa, i64 n) {
  if (n < bench::kFibSpawnMin) return bench::fib_seq(n);
  i64 a = 0;
  bf::fiber f = go(sa, [&sa, &a, n] { a = fib(sa, n - 1); });
  i64 b = fib(sa, n - 2);
  f.join();
  return a + b;
}

template <typename Salloc>
double fib_once(Salloc& sa, i64 n) {
  Timer t;
  t.start();
  i64 r = fib(sa, n);
  t.stop();
  return r == bench::fib_expected(n) ? t.ns / 1e6 : -1;
}

template <typename Salloc>
double timers_fire_once(Salloc& sa, i64 n) {
  const double ns = spawn_all_ns(
      sa, n, /*bulk=*/false, [] { boost::this_fiber::sleep_for(std::chrono::milliseconds(1)); });
  return ns < 0 ? -1 : ns / 1e6;
}

// rss_parked: n detached fibers, each blocked on one shared gate; (RSS once all are parked -
// RSS just before the first spawn) / n, in KiB. Then the gate opens; every fiber must finish.
template <typename Salloc>
double rss_parked_once(Salloc& sa, i64 n) {
  Gate gate, done;
  std::atomic<i64> parked{0}, left{n};
  const double before = bench::rss_kib();
  for (i64 i = 0; i < n; ++i) {
    go(sa, [&] {
      parked.fetch_add(1, std::memory_order_relaxed);
      gate.wait();
      if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) done.open();
    }).detach();
  }
  while (parked.load() < n) boost::this_fiber::yield();
  // The last fiber counted itself but may not be in gate.wait() yet: let it get there.
  for (int i = 0; i < 10; ++i) boost::this_fiber::yield();
  const double after = bench::rss_kib();
  gate.open();
  done.wait();
  if (before < 0 || after < 0 || left.load() != 0) return -1;
  return (after - before) / static_cast<double>(n);
}

// Every workload on the calling thread's current algorithm; `make` builds a fresh stack
// allocator per run (a fresh pool for 1 worker).
template <typename MakeSalloc>
void run_all(const Sizes& s, int threads, MakeSalloc make) {
  auto line = [&](const char* name, const char* unit, auto once) {
    if (!s.wants(name)) return;
    bench::report(s, name, "boost_fiber", threads, unit, [&] {
      auto sa = make();
      return once(sa);
    });
  };
  if (threads == 1) line("yield", "ns/yield", [&](auto& sa) { return yield_once(sa, s.yield_n); });
  line("spawn_join", "ns/fiber", [&](auto& sa) { return spawn_join_once(sa, s.spawn_n); });
  line("skynet", "ms", [&](auto& sa) { return skynet_once(sa, s.skynet_leaves); });
  line("mutex", "ns/op", [&](auto& sa) { return mutex_once(sa, s.mutex_fibers, s.mutex_ops); });
  line("chan_pingpong", "ns/roundtrip", [&](auto& sa) { return pingpong_once(sa, s.pingpong_n); });
  line("chan_throughput", "ns/msg", [&](auto& sa) { return throughput_once(sa, s.throughput_n); });
  line("fib", "ms", [&](auto& sa) { return fib_once(sa, s.fib_n); });
  line("timers_fire", "ms", [&](auto& sa) { return timers_fire_once(sa, s.timers_fire_n); });
  if (s.wants("rss_parked")) {
    bench::report_fresh(s, "rss_parked", "boost_fiber", threads, "KiB/fiber", [&] {
      auto sa = make();
      return rss_parked_once(sa, s.rss_fibers);
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Sizes s = bench::parse(argc, argv);
  g_bulk_launch = bench::boost_launch_post() ? bf::launch::post : bf::launch::dispatch;
  if (!s.wants_impl("boost_fiber")) return 0;
  // 1 worker: the default algorithm of the main thread is round_robin.
  if (s.wants_threads(1)) {
    run_all(s, 1, [] { return bf::pooled_fixedsize_stack(kStackSize); });
  }
  const int ws = s.workers.empty() ? 2 : std::max(2, *s.workers.rbegin());
  if (s.wants_threads(ws)) {
    // work_stealing keeps process-wide static state (its peers' array), so it is installed
    // once, on this thread and one helper, for every 2-worker run. The helper's main fiber
    // parks until the runs are over; its scheduler meanwhile steals this thread's fibers.
    bf::mutex m;
    bf::condition_variable cv;
    bool finished = false;
    std::vector<std::thread> helpers;
    for (int i = 1; i < ws; ++i) {
      helpers.emplace_back([&] {
        bf::use_scheduling_algorithm<bf::algo::work_stealing>(ws);
        std::unique_lock<bf::mutex> l(m);
        cv.wait(l, [&] { return finished; });
      });
    }
    bf::use_scheduling_algorithm<bf::algo::work_stealing>(ws);
    run_all(s, ws, [] { return bf::fixedsize_stack(kStackSize); });
    {
      std::lock_guard<bf::mutex> l(m);
      finished = true;
    }
    cv.notify_all();
    for (std::thread& h : helpers) h.join();
    // This thread's work_stealing scheduler still points at the helper's, now gone: leave
    // without running its teardown (it could try to steal from the dead peer).
    std::fflush(stdout);
    std::_Exit(bench::failures() == 0 ? 0 : 1);
  }
  return bench::failures() == 0 ? 0 : 1;
}
