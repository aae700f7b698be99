// Copyright 2026 The Picos for C++ Authors.
//
// What only the libevent scheduler promises: fd readiness (await_fd) and its cancelation,
// timers as one libevent timer, attaching to an application's own event_base, and the
// stall warning's view of fd waits. What every scheduler promises (fatal errors, quota,
// stall warning, nested and repeated runs, loops on two threads waking each other, timers,
// options) is mux/scheduler_test.cc; the scheduler-agnostic contract is the conformance
// matrix (picos/core_test.cc, configuration "libevent").

#include "mux/libevent/libevent.h"

#include <event2/event.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mux/fifo/fifo.h"
#include "mux/testing/scheduler_testing.h"
#include "mux/testing/testing.h"
#include "picos/handler.h"
#include "picos/picos.h"
#include "picos/reactor.h"
#include "poller/epoll_poller.h"

namespace picos::mux::libevent {
namespace {

using namespace std::chrono_literals;

// A non-blocking pipe, closed on destruction.
struct Pipe {
  int r = -1;
  int w = -1;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe2");
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    close(r);
    close(w);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void put(char c) const { ASSERT_EQ(write(w, &c, 1), 1); }
  char get() const {
    char c = 0;
    EXPECT_EQ(read(r, &c, 1), 1);
    return c;
  }
};

int added_events(event_base* base) {
  return event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED);
}

// An application's own base, created the way the header asks for.
struct AppBase {
  event_base* base;
  AppBase() {
    use_threads();
    base = event_base_new();
  }
  ~AppBase() { event_base_free(base); }
};

// ---- fd readiness --------------------------------------------------------------------------

TEST(AwaitFdTest, ReaderIsSuspendedUntilAWriterFiberWrites) {
  std::vector<std::string> log = run([] {
    Pipe p;
    std::vector<std::string> log;
    Computation<void> reader_done, writer_done;
    Fiber::spawn(Fiber::create(PackedComputation()), [&, reader_done] {
      log.push_back("reader waits");
      EXPECT_EQ(await_fd(p.r, EV_READ), EV_READ);
      log.push_back(std::string("reader got ") + p.get());
      reader_done.finish();
    });
    Fiber::spawn(Fiber::create(PackedComputation()), [&, writer_done] {
      for (int i = 0; i < 3; ++i) Fiber::yield();  // the reader stays blocked meanwhile
      log.push_back("writer writes");
      p.put('x');
      writer_done.finish();
    });
    reader_done.await();
    writer_done.await();
    return log;
  });
  EXPECT_EQ(log, (std::vector<std::string>{"reader waits", "writer writes", "reader got x"}));
}

TEST(AwaitFdTest, ReadinessFromAnotherThreadResumesTheFiber) {
  run([] {
    Pipe p;
    for (int i = 0; i < 20; ++i) {
      std::thread writer([&p, i] {
        std::this_thread::sleep_for(200us);
        p.put(static_cast<char>('a' + i));
      });
      await_readable(p.r);
      EXPECT_EQ(p.get(), 'a' + i);
      writer.join();
    }
  });
}

TEST(AwaitFdTest, WritableAndBothDirections) {
  run([] {
    Pipe p;
    await_writable(p.w);
    EXPECT_EQ(await_fd(p.w, EV_READ | EV_WRITE), EV_WRITE);
    p.put('z');
    EXPECT_EQ(await_fd(p.r, EV_READ | EV_WRITE), EV_READ);
    EXPECT_EQ(p.get(), 'z');
  });
}

TEST(AwaitFdTest, CanceledWaitRemovesItsEventAndTheFdCanBeReused) {
  run([] {
    event_base* base = current_base();
    ASSERT_NE(base, nullptr);
    Fiber::sleep(0.001);  // after the first batch: the keep-alive event is pending
    const int before = added_events(base);
    auto p = std::make_unique<Pipe>();
    const int old_r = p->r;
    Computation<void> waiter;
    Computation<void> joined;
    bool canceled = false;
    Fiber::spawn(Fiber::create(waiter), [&, joined] {
      try {
        await_readable(p->r);
      } catch (const picos::testing::Exit&) {
        canceled = true;
      }
      joined.finish();
    });
    Fiber::yield();  // the waiter is blocked in await_fd
    EXPECT_EQ(added_events(base), before + 1);
    waiter.cancel(std::make_exception_ptr(picos::testing::Exit()));
    joined.await();
    EXPECT_TRUE(canceled);
    EXPECT_EQ(added_events(base), before);  // the event is gone
    // Readiness now reaches nobody (under ASan a late callback would touch a dead stack).
    p->put('x');
    Fiber::sleep(0.002);  // the loop polls
    // Close and reopen: the descriptor number comes back and can be awaited again.
    p.reset();
    Pipe q;
    EXPECT_EQ(q.r, old_r);
    picos::testing::spawn([&q] { q.put('y'); });
    await_readable(q.r);
    EXPECT_EQ(q.get(), 'y');
    EXPECT_EQ(added_events(base), before);
  });
}

TEST(AwaitFdTest, CancelationFromAnotherThreadInterruptsTheWait) {
  run([] {
    Pipe p;
    for (int i = 0; i < 20; ++i) {
      Computation<void> c;
      std::thread canceler([c] {
        std::this_thread::sleep_for(200us);
        c.cancel(std::make_exception_ptr(picos::testing::Exit()));
      });
      Fiber& self = Fiber::current();
      PackedComputation saved = self.get_computation();
      self.set_computation(c);
      EXPECT_THROW(await_readable(p.r), picos::testing::Exit);
      self.set_computation(saved);
      canceler.join();
    }
    EXPECT_EQ(added_events(current_base()), 1);  // only the scheduler's own keep-alive
  });
}

TEST(AwaitFdTest, CanceledBeforeTheCallNeverRegisters) {
  run([] {
    Pipe p;
    Fiber& self = Fiber::current();
    PackedComputation saved = self.get_computation();
    PackedComputation c;
    c.cancel(std::make_exception_ptr(picos::testing::Exit()));
    self.set_computation(c);
    EXPECT_THROW(await_readable(p.r), picos::testing::Exit);
    self.set_computation(saved);
  });
}

TEST(AwaitFdTest, OutsideALibeventFiberThrowsLogicError) {
  Pipe p;
  EXPECT_EQ(current_base(), nullptr);
  EXPECT_THROW(await_readable(p.r), std::logic_error);
  fifo::run([&] {
    EXPECT_EQ(current_base(), nullptr);
    EXPECT_THROW(await_readable(p.r), std::logic_error);
  });
  run([&] {
    event_base* outer = current_base();
    EXPECT_NE(outer, nullptr);
    fifo::run([&] { EXPECT_THROW(await_readable(p.r), std::logic_error); });  // nested
    EXPECT_EQ(current_base(), outer);
    run([outer] { EXPECT_NE(current_base(), outer); });  // a nested run has a base of its own
    EXPECT_EQ(current_base(), outer);
  });
}

TEST(AwaitFdTest, BadArgumentsAreRejected) {
  run([] {
    Pipe p;
    EXPECT_THROW(await_fd(p.r, 0), std::invalid_argument);
    EXPECT_THROW(await_fd(p.r, EV_TIMEOUT), std::invalid_argument);
    ::testing::internal::CaptureStderr();  // libevent warns about the failed epoll_ctl
    int closed = dup(p.r);
    close(closed);
    try {
      await_readable(closed);
      ADD_FAILURE() << "no exception";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), EBADF) << e.what();
    }
    (void)::testing::internal::GetCapturedStderr();
  });
}

TEST(AwaitFdTest, PingPongBetweenTwoFibers) {
  constexpr int rounds = picos::testing::scaled(2000);
  int pongs = run([] {
    Pipe ab, ba;
    int pongs = 0;
    Computation<void> done;
    Fiber::spawn(Fiber::create(PackedComputation()), [&, done] {
      for (int i = 0; i < rounds; ++i) {
        await_readable(ab.r);
        ba.put(ab.get());
      }
      done.finish();
    });
    for (int i = 0; i < rounds; ++i) {
      ab.put('p');
      await_readable(ba.r);
      if (ba.get() == 'p') ++pongs;
    }
    done.await();
    return pongs;
  });
  EXPECT_EQ(pongs, rounds);
}

// ---- timers ---------------------------------------------------------------------------------

TEST(TimerTest, ManySleepersShareOneLibeventTimer) {
  run([] {
    // Awaiting a writable pipe ends the batch (timers are re-armed at the end of a batch) and
    // resumes in the next one, without a timer of its own.
    Pipe p;
    event_base* base = current_base();
    await_writable(p.w);
    const int before = added_events(base);  // the keep-alive event
    std::vector<Computation<void>> sleepers;
    std::vector<Computation<void>> joins;
    for (int i = 0; i < 10; ++i) {
      Computation<void> c, joined;
      Fiber::spawn(Fiber::create(c), [joined, i] {
        try {
          Fiber::sleep(100.0 + i);
        } catch (const picos::testing::Exit&) {
        }
        joined.finish();
      });
      sleepers.push_back(c);
      joins.push_back(joined);
    }
    await_writable(p.w);  // the timer is armed for the earliest sleeper
    EXPECT_EQ(added_events(base), before + 1);
    for (auto& c : sleepers) c.cancel(std::make_exception_ptr(picos::testing::Exit()));
    for (auto& j : joins) j.await();
    await_writable(p.w);  // nothing is left to arm
    EXPECT_EQ(added_events(base), before);
  });
}

// ---- attaching to an application's base -----------------------------------------------------

struct TickState {
  Attachment* attachment = nullptr;
  event* tick = nullptr;
  int ticks = 0;
  std::vector<int> results;
};

// An application timer callback: each tick spawns a fiber that sleeps less than the previous
// one and spawns a child, then re-arms the timer until the third tick.
void on_tick(evutil_socket_t, short, void* arg) {
  auto* st = static_cast<TickState*>(arg);
  int tick = st->ticks++;
  st->attachment->spawn([st, tick] {
    Fiber::sleep(0.002 * (3 - tick));
    Computation<int> child;
    Fiber::spawn(Fiber::create(child), [child, tick] { child.return_value(10 * tick); });
    st->results.push_back(child.await() + tick);
  });
  if (st->ticks < 3) {
    timeval tv{0, 100};
    evtimer_add(st->tick, &tv);
  }
}

TEST(AttachTest, ApplicationSpawnsFibersFromATimerCallback) {
  AppBase app;
  TickState st;
  {
    Attachment attachment(app.base);
    st.attachment = &attachment;
    st.tick = evtimer_new(app.base, &on_tick, &st);
    timeval tv{0, 100};
    evtimer_add(st.tick, &tv);
    // The application's own loop: it returns once its timer and every fiber are done.
    EXPECT_GE(event_base_dispatch(app.base), 0);
    EXPECT_EQ(attachment.live_fibers(), 0u);
    EXPECT_EQ(attachment.failure(), nullptr);
    event_free(st.tick);
  }
  std::sort(st.results.begin(), st.results.end());  // the application's clock may be coarse
  EXPECT_EQ(st.results, (std::vector<int>{0, 11, 22}));
  EXPECT_EQ(added_events(app.base), 0);
}

TEST(AttachTest, FiberBreaksTheApplicationLoop) {
  AppBase app;
  int ticks = 0;
  event* tick = event_new(
      app.base, -1, EV_PERSIST, [](evutil_socket_t, short, void* n) { ++*static_cast<int*>(n); },
      &ticks);
  timeval tv{0, 500};
  event_add(tick, &tv);  // would keep the loop running forever
  {
    Attachment attachment(app.base);
    attachment.spawn([&ticks] {
      while (ticks < 3) Fiber::sleep(0.001);
      event_base_loopbreak(current_base());
    });
    EXPECT_EQ(event_base_dispatch(app.base), 0);
    EXPECT_GE(ticks, 3);
    EXPECT_EQ(attachment.live_fibers(), 0u);
  }
  event_free(tick);
}

TEST(AttachTest, ApplicationEventsGetATurnWhileFibersStayBusy) {
  AppBase app;
  Pipe p;
  p.put('!');  // readable from the start
  bool app_ran = false;
  event* ready = event_new(
      app.base, p.r, EV_READ,
      [](evutil_socket_t, short, void* f) { *static_cast<bool*>(f) = true; }, &app_ran);
  event_add(ready, nullptr);
  std::int64_t yields = 0;
  {
    Attachment attachment(app.base);
    for (int i = 0; i < 2; ++i) {
      attachment.spawn([&] {
        while (!app_ran) {  // only the application's callback ends this
          ++yields;
          Fiber::yield();
        }
      });
    }
    EXPECT_GE(event_base_dispatch(app.base), 0);
  }
  EXPECT_TRUE(app_ran);
  EXPECT_GE(yields, 2);
  event_free(ready);
}

TEST(AttachTest, SpawnFromAnotherThreadWhileTheLoopRuns) {
  AppBase app;
  const int n = picos::testing::scaled(1000);
  int ran = 0;  // loop thread only
  {
    Attachment attachment(app.base);
    std::thread spawner([&] {
      for (int i = 0; i < n; ++i) {
        attachment.spawn([&] {
          if (++ran == n) event_base_loopbreak(current_base());
        });
        if (i % 64 == 0) std::this_thread::sleep_for(10us);
      }
    });
    // No application event at all: the loop must not exit while nothing is pending.
    EXPECT_EQ(event_base_loop(app.base, EVLOOP_NO_EXIT_ON_EMPTY), 0);
    spawner.join();
    EXPECT_EQ(ran, n);
  }
}

// Each spawn comes right after the previous fiber finished, i.e. while the loop may be
// ending the batch in which the attachment ran out of fibers: a wake-up lost there (the
// keep-alive bookkeeping once cancelled the activation with event_del) hangs the loop.
TEST(AttachTest, RemoteSpawnsRacingTheEndOfABatchAreNotLost) {
  AppBase app;
  static constexpr int n = picos::testing::scaled(20000);
  std::atomic<int> ran{0};
  {
    Attachment attachment(app.base);
    std::thread spawner([&] {
      for (int i = 0; i < n; ++i) {
        attachment.spawn([&ran] {
          if (ran.fetch_add(1, std::memory_order_relaxed) + 1 == n) {
            event_base_loopbreak(current_base());
          }
        });
        while (ran.load(std::memory_order_relaxed) <= i) std::this_thread::yield();
      }
    });
    EXPECT_EQ(event_base_loop(app.base, EVLOOP_NO_EXIT_ON_EMPTY), 0);
    spawner.join();
  }
  EXPECT_EQ(ran.load(), n);
}

TEST(AttachTest, SpawnFromOwnFiberIsFiberSpawn) {
  AppBase app;
  std::vector<std::string> order;
  {
    Attachment attachment(app.base);
    attachment.spawn([&] {
      attachment.spawn([&] { order.push_back("child"); });
      order.push_back("parent");
      Fiber::yield();
      order.push_back("parent again");
    });
    EXPECT_GE(event_base_dispatch(app.base), 0);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"parent", "child", "parent again"}));
}

TEST(AttachTest, DestroyingWithLiveFibersAbandonsThemAndRemovesEveryEvent) {
  AppBase app;
  Pipe p;
  Trigger never;
  int started = 0;
  {
    Attachment attachment(app.base);
    attachment.spawn([&] {
      ++started;
      (void)never.await();
    });
    attachment.spawn([&] {
      ++started;
      await_readable(p.r);
    });
    attachment.spawn([&] {
      ++started;
      Fiber::sleep(3600.0);
    });
    attachment.spawn([&] {
      ++started;
      event_base_loopbreak(current_base());
    });
    EXPECT_EQ(event_base_dispatch(app.base), 0);
    EXPECT_EQ(started, 4);
    EXPECT_EQ(attachment.live_fibers(), 3u);
    EXPECT_GT(added_events(app.base), 0);
    // Queued, never started: dropped with the attachment, main never runs.
    attachment.spawn([&] { ++started; });
  }
  EXPECT_EQ(started, 4);
  EXPECT_EQ(added_events(app.base), 0);
  p.put('x');
  never.signal();  // a late signal reaches an abandoned fiber: harmless
  EXPECT_EQ(event_base_loop(app.base, EVLOOP_NONBLOCK), 1);  // nothing left to run
}

TEST(AttachTest, FatalErrorBreaksTheLoopAndIsReported) {
  AppBase app;
  Trigger never;
  {
    Attachment attachment(app.base);
    attachment.spawn([&] { (void)never.await(); });
    attachment.spawn([] { throw picos::testing::Fatal(); });
    EXPECT_EQ(event_base_loop(app.base, EVLOOP_NO_EXIT_ON_EMPTY), 0);
    std::exception_ptr e = attachment.failure();
    ASSERT_NE(e, nullptr);
    EXPECT_THROW(std::rethrow_exception(e), picos::testing::Fatal);
    EXPECT_THROW(attachment.spawn([] {}), std::logic_error);
    EXPECT_EQ(added_events(app.base), 0);
  }
  never.signal();
}

TEST(AttachTest, BadArgumentsAreRejected) {
  EXPECT_THROW(Attachment(nullptr), std::invalid_argument);
  AppBase app;
  Attachment attachment(app.base);
  EXPECT_THROW(attachment.spawn(FiberRef(), [] {}), std::invalid_argument);
  EXPECT_THROW(attachment.spawn(Fiber::create(PackedComputation()), {}), std::invalid_argument);
}

// ---- the Reactor for //io (an EpollPoller watched by the base) ---------------------------

// What //io does for one wait, on the running scheduler's reactor (picos/reactor.h).
FdInterest::Outcome wait_on_reactor(int fd, bool drained) {
  Reactor* reactor = picos::internal::current_handler().reactor();
  EXPECT_NE(reactor, nullptr);
  FdInterest w(fd, kFdRead, drained);
  reactor->add(w);
  EXPECT_EQ(w.trigger.await(), nullptr);
  reactor->remove(w);
  return w.outcome;
}

// Until `done`, up to 5 s: then writes to `p` (an edge that ends any wait for it) and says so.
bool rescued_after_5s(const Pipe& p, const std::atomic<bool>& done) {
  for (int i = 0; i < 500 && !done; ++i) Fiber::sleep(0.01);
  if (done) return false;
  p.put('!');
  return true;
}

TEST(ReactorTest, ApplicationLoopReturnsOnceFibersThatWaitedForIoHaveFinished) {
  AppBase app;
  Pipe p;
  int ready = 0;
  std::atomic<bool> returned{false};
  std::atomic<bool> broken{false};
  {
    Attachment attachment(app.base);
    for (int i = 0; i < 3; ++i) {
      attachment.spawn([&] {
        if (wait_on_reactor(p.r, false) == FdInterest::kReady) ++ready;
      });
    }
    attachment.spawn([&] {
      Fiber::yield();  // the readers wait first
      p.put('x');
    });
    // The poller's descriptor is watched while the readers wait, and its event deleted after
    // the batch in which nothing waits any more: a pending event would keep the application's
    // loop from returning. A watchdog ends the loop if it does not return by itself.
    std::thread watchdog([&] {
      for (int i = 0; i < 500 && !returned; ++i) std::this_thread::sleep_for(10ms);
      if (!returned) {
        broken = true;
        event_base_loopbreak(app.base);
      }
    });
    EXPECT_GE(event_base_dispatch(app.base), 0);
    returned = true;
    watchdog.join();
    EXPECT_FALSE(broken) << "event_base_dispatch did not return once every fiber had finished";
    EXPECT_EQ(ready, 3);
    EXPECT_EQ(attachment.live_fibers(), 0u);
    EXPECT_EQ(added_events(app.base), 0);
  }
}

TEST(ReactorTest, DrainedWaitWithAWrongMarkIsWokenByTheLevelCheck) {
  Pipe p;
  std::atomic<bool> done{false};
  bool rescued = false;
  std::chrono::nanoseconds waited{};
  run([&] {
    // The descriptor is registered (a level wait), then reported by an edge whose data is
    // not all read: a drained wait now has no edge to come, only the poller's level check,
    // which the libevent loop must make happen (a timer while such waits are pending).
    picos::testing::spawn([&] {
      Fiber::yield();
      p.put('a');
      p.put('b');
    });
    EXPECT_EQ(wait_on_reactor(p.r, false), FdInterest::kReady);
    EXPECT_EQ(p.get(), 'a');  // 'b' stays
    picos::testing::spawn([&] { rescued = rescued_after_5s(p, done); });
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(wait_on_reactor(p.r, true), FdInterest::kReady);
    waited = std::chrono::steady_clock::now() - start;
    done = true;
  });
  EXPECT_FALSE(rescued) << "the drained wait was never level-checked";
  // Not an edge (there was none): the check, which comes no sooner than kConfirmNs.
  EXPECT_GE(waited, std::chrono::nanoseconds(picos::internal::EpollPoller::kConfirmNs));
}

// ---- stall warning and options -------------------------------------------------------------

TEST(LibeventTest, NoStallWarningWhileAFiberAwaitsAnFdOrATimer) {
  Options options;
  options.stall_warning = 30ms;
  Pipe p;
  std::thread writer([&p] {
    std::this_thread::sleep_for(200ms);
    p.put('x');
  });
  ::testing::internal::CaptureStderr();
  run(
      [&p] {
        picos::testing::spawn([] { Fiber::sleep(0.2); });
        await_readable(p.r);
      },
      options);
  std::string err = ::testing::internal::GetCapturedStderr();
  writer.join();
  EXPECT_EQ(err.find("blocked"), std::string::npos) << err;
}

TEST(LibeventTest, BudgetIsValidated) {
  Options options;
  options.budget = 0;
  EXPECT_THROW(run([] {}, options), std::invalid_argument);
}

}  // namespace
}  // namespace picos::mux::libevent
