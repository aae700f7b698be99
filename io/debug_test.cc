// Copyright 2026 The Picos for C++ Authors.
//
// picos::debug (picos/debug.h) on every scheduler of the matrix: fibers blocked on a mutex, a
// channel, an io read, a sleep, a join and a computation show up in the dump with their names
// and labels; a deadlock between two fibers is reported naming both; fibers that finished
// are gone; a dump taken from another thread while fibers churn neither crashes nor races
// (run under TSan); the counters of debug::stats() move as fibers spawn, finish, sleep and
// wait for io; stack traces, when on, name where a fiber waits and where it was spawned.
// It lives in //io because it labels waits of //std and //io alike.

#include "picos/debug.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "io/io.h"
#include "mux/testing/testing.h"
#include "picos/handler.h"
#include "picos/picos.h"
#include "std/structured/bundle.h"
#include "std/sync/channel.h"
#include "std/sync/mutex.h"
#include "std/sync/sync_testing.h"

namespace picos {
namespace {

namespace st = picos::sync::testing;
using namespace std::chrono_literals;

constexpr auto kPatience = 20s;  // a bound for what must happen, never a timing assertion

// Spawns `fn` in a new fiber named `name` with computation `c`.
template <typename F>
std::uint64_t spawn_named(const char* name, Computation<void> c, F fn) {
  FiberRef f = Fiber::create(c);
  f->set_name(name);
  const std::uint64_t id = f->id();
  Fiber::spawn(std::move(f), [c, fn = std::move(fn)]() mutable { c.capture(fn); });
  return id;
}

const debug::FiberInfo* find(const std::vector<debug::FiberInfo>& infos, std::uint64_t id) {
  for (const auto& i : infos) {
    if (i.id == id) return &i;
  }
  return nullptr;
}

// Yields until pred(debug::fibers()) holds; fails the test after kPatience.
template <typename P>
std::vector<debug::FiberInfo> wait_for_dump(P pred) {
  const auto give_up = std::chrono::steady_clock::now() + kPatience;
  for (;;) {
    std::vector<debug::FiberInfo> infos = debug::fibers();
    if (pred(infos)) return infos;
    if (std::chrono::steady_clock::now() > give_up) {
      std::ostringstream out;
      debug::dump(out);
      ADD_FAILURE() << "the dump never showed what was expected; last dump:\n" << out.str();
      return infos;
    }
    Fiber::yield();
  }
}

bool suspended_with(const std::vector<debug::FiberInfo>& infos, std::uint64_t id,
                    const std::string& what) {
  const debug::FiberInfo* i = find(infos, id);
  return i != nullptr && i->suspended && i->what == what;
}

TEST(DebugTest, BlockedFibersAreListedWithNamesAndLabels) {
  testing::run([] {
    sync::Mutex mutex;
    sync::Channel<int> channel(0);  // rendezvous
    int fds[2];
    io::pipe(fds);
    Computation<void> gate;
    mutex.lock();  // held by the main fiber

    Computation<void> c_mutex, c_channel, c_read, c_sleep, c_join, c_await;
    const std::uint64_t locker = spawn_named("locker", c_mutex, [&] {
      mutex.lock();
      mutex.unlock();
    });
    const std::uint64_t receiver =
        spawn_named("receiver", c_channel, [&] { (void)channel.receive(); });
    const std::uint64_t reader = spawn_named("reader", c_read, [&] {
      char b;
      (void)io::read(fds[0], &b, 1);
    });
    const std::uint64_t sleeper = spawn_named("sleeper", c_sleep, [] { Fiber::sleep(3600.0); });
    const std::uint64_t joiner = spawn_named("joiner", c_join, [&] {
      structured::Bundle::join_after([&](structured::Bundle& b) { b.fork([&] { gate.wait(); }); });
    });
    const std::uint64_t awaiter = spawn_named("awaiter", c_await, [&] { gate.wait(); });

    std::vector<debug::FiberInfo> infos = wait_for_dump([&](const auto& in) {
      return suspended_with(in, locker, "lock") && suspended_with(in, receiver, "receive") &&
             suspended_with(in, reader, "read") && suspended_with(in, sleeper, "sleep") &&
             suspended_with(in, joiner, "join") && suspended_with(in, awaiter, "await");
    });
    const std::uint64_t me = Fiber::current().id();

    const debug::FiberInfo* l = find(infos, locker);
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->name, "locker");
    EXPECT_EQ(l->type, "picos::sync::Mutex");
    EXPECT_EQ(l->object, &mutex);
    EXPECT_EQ(l->detail, debug::Detail::kHolder);
    if (find(infos, me) != nullptr) {
      EXPECT_EQ(l->holder_id, me);  // the main fiber is listed where a scheduler runs it
    }
    const debug::FiberInfo* r = find(infos, receiver);
    EXPECT_EQ(r->type, "picos::sync::Channel");
    EXPECT_EQ(r->object, &channel);
    const debug::FiberInfo* rd = find(infos, reader);
    EXPECT_EQ(rd->detail, debug::Detail::kFd);
    EXPECT_EQ(rd->value, fds[0]);
    EXPECT_EQ(find(infos, sleeper)->detail, debug::Detail::kDeadline);
    EXPECT_EQ(find(infos, awaiter)->type, "picos::Computation");
    EXPECT_EQ(find(infos, awaiter)->object, gate.id());
    EXPECT_FALSE(find(infos, joiner)->scheduler.empty());

    std::ostringstream out;
    debug::dump(out);
    const std::string text = out.str();
    EXPECT_NE(text.find("\"locker\""), std::string::npos) << text;
    EXPECT_NE(text.find("picos::sync::Mutex@"), std::string::npos) << text;
    EXPECT_NE(text.find("read, fd " + std::to_string(fds[0])), std::string::npos) << text;
    EXPECT_NE(text.find("sleep, "), std::string::npos) << text;
    EXPECT_NE(text.find(" s left"), std::string::npos) << text;

    // Release everyone; finished fibers leave the registry.
    mutex.unlock();
    channel.send(1);
    io::write_all(fds[1], "x", 1);
    (void)c_sleep.try_cancel(st::stop());
    gate.finish();
    for (Computation<void>* c : {&c_mutex, &c_channel, &c_read, &c_join, &c_await}) c->await();
    EXPECT_THROW(c_sleep.await(), st::Stop);
    (void)wait_for_dump([&](const auto& in) {
      for (std::uint64_t id : {locker, receiver, reader, sleeper, joiner, awaiter}) {
        if (find(in, id) != nullptr) return false;
      }
      return true;
    });
    io::close(fds[0]);
    io::close(fds[1]);
  });
}

TEST(DebugTest, StatesTellRunningReadyAndSuspendedFibers) {
  picos::testing::run([] {
    // The fiber taking the dump is running (where it is listed: a run's main fiber on the
    // thread scheduler, or with no scheduler, is not).
    const std::uint64_t me = Fiber::current().id();
    {
      const std::vector<debug::FiberInfo> infos = debug::fibers();
      if (const debug::FiberInfo* i = find(infos, me)) {
        EXPECT_EQ(i->state, debug::FiberState::kRunning);
      }
    }
    // Fibers that yield until told to stop, more of them than any column of the matrix has
    // threads: at any moment some are queued (ready), unless each has a thread of its own
    // (then all of them are running once their threads have started).
    constexpr int kSpinners = 8;
    std::atomic<bool> stop{false};
    std::vector<std::uint64_t> ids;
    std::vector<Computation<void>> done;
    for (int k = 0; k < kSpinners; ++k) {
      Computation<void> c;
      done.push_back(c);
      ids.push_back(spawn_named("spinner", c, [&stop] {
        while (!stop.load()) Fiber::yield();
      }));
    }
    bool own_threads = false;
    bool only_running_or_ready = true;
    (void)wait_for_dump([&](const std::vector<debug::FiberInfo>& in) {
      int listed = 0;
      int ready = 0;
      int running = 0;
      for (std::uint64_t id : ids) {
        const debug::FiberInfo* i = find(in, id);
        if (i == nullptr) continue;
        ++listed;
        if (i->scheduler.find("thread") != std::string::npos) own_threads = true;
        if (i->state == debug::FiberState::kReady) ++ready;
        if (i->state == debug::FiberState::kRunning) ++running;
        if (i->state != debug::FiberState::kReady && i->state != debug::FiberState::kRunning) {
          only_running_or_ready = false;
        }
      }
      return listed == kSpinners && (own_threads ? running == kSpinners : ready > 0);
    });
    EXPECT_TRUE(only_running_or_ready);
    std::ostringstream out;
    debug::dump(out);
    EXPECT_NE(out.str().find(own_threads ? "] running" : "] ready"), std::string::npos)
        << out.str();
    stop.store(true);
    for (const Computation<void>& c : done) c.await();
  });
}

TEST(DebugTest, ADeadlockBetweenTwoFibersIsReportedNamingBoth) {
  testing::run([] {
    sync::Mutex a, b;
    Computation<void> first_holds, second_holds;
    Computation<void> c1, c2;
    const std::uint64_t f1 = spawn_named("first", c1, [&] {
      a.lock();
      first_holds.finish();
      second_holds.wait();
      try {
        b.lock();  // deadlock: the other holds b and waits for a
        b.unlock();
      } catch (...) {
        a.unlock();
        throw;
      }
      a.unlock();
    });
    const std::uint64_t f2 = spawn_named("second", c2, [&] {
      b.lock();
      second_holds.finish();
      first_holds.wait();
      a.lock();
      a.unlock();
      b.unlock();
    });
    std::vector<debug::FiberInfo> infos = wait_for_dump([&](const auto& in) {
      return suspended_with(in, f1, "lock") && suspended_with(in, f2, "lock");
    });
    const auto cycles = debug::deadlocks(infos);
    ASSERT_EQ(cycles.size(), 1u);
    const std::vector<std::uint64_t> expected =
        f1 < f2 ? std::vector<std::uint64_t>{f1, f2} : std::vector<std::uint64_t>{f2, f1};
    EXPECT_EQ(cycles[0], expected);
    std::ostringstream out;
    debug::dump(out);
    EXPECT_NE(out.str().find("deadlock: fiber " + std::to_string(expected[0]) + " -> fiber " +
                             std::to_string(expected[1])),
              std::string::npos)
        << out.str();
    // Break it: the first gives up its wait for b (and releases a).
    (void)c1.try_cancel(st::stop());
    EXPECT_THROW(c1.await(), st::Stop);
    c2.await();
  });
}

TEST(DebugTest, DumpsFromAnotherThreadWhileFibersChurn) {
  testing::run([] {
    std::atomic<bool> stop{false};
    std::atomic<long> dumps{0};
    std::thread dumper([&] {
      while (!stop.load()) {
        std::ostringstream out;
        debug::dump(out);
        dumps.fetch_add(1);
      }
    });
    const int rounds = st::fibers(200);
    for (int round = 0; round < 20; ++round) {
      std::vector<Computation<void>> cs;
      for (int i = 0; i < rounds / 20 + 1; ++i) {
        cs.push_back(st::fork([i] {
          Fiber::current().set_name("churn " + std::to_string(i));
          Fiber::yield();
        }));
      }
      st::await_all(cs);
    }
    const auto give_up = std::chrono::steady_clock::now() + kPatience;
    while (dumps.load() < 3 && std::chrono::steady_clock::now() < give_up) Fiber::yield();
    stop.store(true);
    dumper.join();
    EXPECT_GE(dumps.load(), 3);
  });
}

// The sum of every scheduler's (every worker's) counters.
debug::SchedulerStats total() {
  debug::SchedulerStats t;
  for (const debug::SchedulerStats& s : debug::stats()) {
    t.scheduler = s.scheduler;
    t.spawns += s.spawns;
    t.finishes += s.finishes;
    t.switches += s.switches;
    t.steals += s.steals;
    t.io_waits += s.io_waits;
    t.timers += s.timers;
    t.live += s.live;
    t.runnable += s.runnable;
    t.ready += s.ready;
  }
  return t;
}

// Yields until pred(total()) holds; fails the test after kPatience.
template <typename P>
debug::SchedulerStats wait_for_stats(P pred) {
  const auto give_up = std::chrono::steady_clock::now() + kPatience;
  for (;;) {
    debug::SchedulerStats t = total();
    if (pred(t)) return t;
    if (std::chrono::steady_clock::now() > give_up) {
      std::ostringstream out;
      debug::print_stats(out);
      ADD_FAILURE() << "the counters never showed what was expected; last:\n" << out.str();
      return t;
    }
    Fiber::yield();
  }
}

TEST(DebugTest, StatsCountSpawnsFinishesTimersIoWaitsAndLiveFibers) {
  testing::run([] {
    if (debug::stats().empty()) {
      // No scheduler (fibers are threads): nothing counts.
      EXPECT_EQ(total().spawns, 0u);
      return;
    }
    const debug::SchedulerStats before = total();
    if (before.scheduler != "picos::mux::thread") {  // (thread runs main on the caller)
      EXPECT_GE(before.spawns, 1u);                  // the run's main fiber at least
      EXPECT_GE(before.live, 1u);
      EXPECT_GE(before.runnable, 1u);  // this one
    }
    constexpr int kFibers = 10;
    std::vector<Computation<void>> cs;
    for (int i = 0; i < kFibers; ++i) cs.push_back(st::fork([] { Fiber::sleep(0.001); }));
    st::await_all(cs);
    // Finishes on another worker reach their origin's count a little later (multififo).
    (void)wait_for_stats([&](const debug::SchedulerStats& t) {
      return t.spawns >= before.spawns + kFibers && t.finishes >= before.finishes + kFibers &&
             t.timers >= before.timers + kFibers;
    });

    // A fiber blocked on a pipe: live, not runnable, one io wait more where the scheduler has
    // a reactor of its own (else //io's default reactor has it).
    int fds[2];
    io::pipe(fds);
    const debug::SchedulerStats mid = total();
    Computation<void> c = st::fork([&] {
      char b;
      (void)io::read(fds[0], &b, 1);
    });
    const bool own_reactor = internal::current_handler().reactor() != nullptr;
    const debug::SchedulerStats blocked = wait_for_stats([&](const debug::SchedulerStats& t) {
      return t.live >= mid.live + 1 && t.live - t.runnable >= 1 &&
             (!own_reactor || t.io_waits >= mid.io_waits + 1);
    });
    EXPECT_LE(blocked.runnable, blocked.live);
    EXPECT_LE(blocked.ready, blocked.runnable);
    if (blocked.scheduler != "picos::mux::thread") {
      EXPECT_GT(blocked.switches, before.switches);
    }
    io::write_all(fds[1], "x", 1);
    c.await();
    io::close(fds[0]);
    io::close(fds[1]);
    std::ostringstream out;
    debug::print_stats(out);
    EXPECT_NE(out.str().find("spawns"), std::string::npos) << out.str();
    EXPECT_NE(out.str().find(blocked.scheduler), std::string::npos) << out.str();
  });
}

// Not inlined: they must be frames of their own, for the trace to name them.
[[gnu::noinline]] void wait_in_a_named_function(Computation<void>& gate) {
  gate.wait();
  asm volatile("");  // not a tail call
}
[[gnu::noinline]] std::uint64_t spawn_from_a_named_function(Computation<void>& gate,
                                                            Computation<void>& c) {
  const std::uint64_t id = spawn_named("traced", c, [&gate] { wait_in_a_named_function(gate); });
  asm volatile("");
  return id;
}

::testing::AssertionResult any_frame_names(const std::vector<const void*>& stack,
                                           const std::string& name) {
  std::string frames;
  for (const void* pc : stack) {
    const std::string f = debug::symbolize(pc);
    if (f.find(name) != std::string::npos) return ::testing::AssertionSuccess();
    frames += "\n  " + f;
  }
  return ::testing::AssertionFailure() << "no frame names " << name << ":" << frames;
}

TEST(DebugTest, TracesNameWhereAFiberWaitsAndWhereItWasSpawned) {
  testing::run([] {
    debug::set_fiber_traces(true);
    Computation<void> gate, c;
    const std::uint64_t id = spawn_from_a_named_function(gate, c);
    std::vector<debug::FiberInfo> infos = wait_for_dump([&](const auto& in) {
      const debug::FiberInfo* i = find(in, id);
      return suspended_with(in, id, "await") && !i->stack.empty();
    });
    debug::set_fiber_traces(false);
    const debug::FiberInfo* i = find(infos, id);
    ASSERT_NE(i, nullptr);
    EXPECT_TRUE(any_frame_names(i->stack, "wait_in_a_named_function"));
    EXPECT_TRUE(any_frame_names(i->spawn_stack, "spawn_from_a_named_function"));
    std::ostringstream out;
    debug::dump(out);
    EXPECT_NE(out.str().find("suspended at:"), std::string::npos) << out.str();
    EXPECT_NE(out.str().find("wait_in_a_named_function"), std::string::npos) << out.str();
    EXPECT_NE(out.str().find("spawned at:"), std::string::npos) << out.str();
    gate.finish();
    c.await();
    // Traces off: a new suspension has no trace (not the previous one's).
    Computation<void> gate2, c2;
    const std::uint64_t id2 = spawn_named("untraced", c2, [&] { gate2.wait(); });
    infos = wait_for_dump([&](const auto& in) { return suspended_with(in, id2, "await"); });
    EXPECT_TRUE(find(infos, id2)->stack.empty());
    EXPECT_TRUE(find(infos, id2)->spawn_stack.empty());
    gate2.finish();
    c2.await();
  });
}

}  // namespace
}  // namespace picos
