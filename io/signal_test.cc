// Copyright 2026 The Picos for C++ Authors.
//
// picos::io::SignalSet on every scheduler of the conformance matrix: fibers wait for
// process-directed signals (kill(getpid(), ...)) raised by other fibers and by plain threads;
// a canceled wait consumes nothing and leaves the set usable; a thread that does not block
// the signals is refused at construction. Every test checks that it leaves no descriptor
// open.
//
// The fixture follows the rule of io/signal.h: the signals are blocked (block_signals) before
// anything in the process can start a thread — here before the default reactor's thread,
// and before picos::testing::run starts a scheduler's workers.

#include "io/signal.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "io/io.h"
#include "io/testing.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/structured/control.h"
#include "std/sync/sync_testing.h"

namespace picos::io {
namespace {

namespace st = picos::sync::testing;

void raise_in_process(int sig) { ASSERT_EQ(::kill(::getpid(), sig), 0); }

bool blocked_here(int sig) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, sig) == 1;
}

class SignalSetTest : public picos::io::testing::NoFdLeakTest {
 protected:
  void SetUp() override {
    block_signals({SIGUSR1, SIGUSR2});  // before any thread: every later thread inherits it
    NoFdLeakTest::SetUp();
  }
};

TEST_F(SignalSetTest, FiberWaitsForSignalRaisedByAnotherFiber) {
  SignalSet set({SIGUSR1});
  picos::testing::run([&] {
    std::atomic<int> got{0};
    auto waiter = st::fork([&] { got = set.wait(); });
    auto raiser = st::fork([] {
      Fiber::sleep(std::chrono::milliseconds(20));  // the waiter is most likely suspended
      raise_in_process(SIGUSR1);
    });
    raiser.await();
    waiter.await();
    EXPECT_EQ(got.load(), SIGUSR1);
  });
  EXPECT_FALSE(set.try_wait().has_value()) << "consumed exactly once";
}

TEST_F(SignalSetTest, FiberWaitsForSignalRaisedByAPlainThread) {
  SignalSet set({SIGUSR1});
  std::thread raiser([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    raise_in_process(SIGUSR1);
  });
  int got = picos::testing::run([&] { return set.wait(); });
  raiser.join();
  EXPECT_EQ(got, SIGUSR1);
}

TEST_F(SignalSetTest, PendingSignalIsReturnedWithoutWaiting) {
  SignalSet set({SIGUSR1, SIGUSR2});
  EXPECT_FALSE(set.try_wait().has_value());
  raise_in_process(SIGUSR2);
  raise_in_process(SIGUSR1);
  std::set<int> got = picos::testing::run([&] {
    std::set<int> s;
    s.insert(set.wait());
    s.insert(set.wait());
    return s;
  });
  EXPECT_EQ(got, (std::set<int>{SIGUSR1, SIGUSR2}));
  EXPECT_FALSE(set.try_wait().has_value());
  EXPECT_TRUE(set.contains(SIGUSR1));
  EXPECT_FALSE(set.contains(SIGINT));
}

TEST_F(SignalSetTest, DeadlineCancelsTheWaitAndTheSetStaysUsable) {
  SignalSet set({SIGUSR1});
  picos::testing::run([&] {
    bool terminated = false;
    try {
      (void)structured::Control::terminate_after(std::chrono::milliseconds(30),
                                                 [&] { return set.wait(); });
    } catch (const structured::Terminate&) {
      terminated = true;
    }
    EXPECT_TRUE(terminated);
    // The descriptor is untouched: a signal raised afterwards is the next wait's.
    raise_in_process(SIGUSR1);
    EXPECT_EQ(set.wait(), SIGUSR1);
  });
}

TEST_F(SignalSetTest, CanceledWaiterConsumesNothing) {
  SignalSet set({SIGUSR1});
  picos::testing::run([&] {
    std::atomic<int> got{0};
    st::Victim v = st::spawn_victim([&] { got = set.wait(); });
    Fiber::sleep(std::chrono::milliseconds(10));
    v.c.cancel(st::stop());
    v.done.await();
    EXPECT_EQ(got.load(), 0);
    // Another fiber gets the next signal; the canceled one took nothing.
    auto waiter = st::fork([&] { got = set.wait(); });
    raise_in_process(SIGUSR1);
    waiter.await();
    EXPECT_EQ(got.load(), SIGUSR1);
  });
  EXPECT_FALSE(set.try_wait().has_value());
}

TEST_F(SignalSetTest, RefusesWhenAThreadDoesNotBlockTheSignal) {
  // A real-time signal no other test blocks: the helper thread, like any thread started
  // before the set, leaves it unblocked.
  const int sig = SIGRTMIN + 3;
  std::atomic<bool> stop{false}, started{false};
  std::thread helper([&] {
    unblock_signals({sig});
    started = true;
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  try {
    SignalSet set({sig});
    ADD_FAILURE() << "a thread that does not block the signal was not detected";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("does not block signal"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(blocked_here(sig)) << "the calling thread's mask is restored";
  stop = true;
  helper.join();
}

TEST_F(SignalSetTest, RejectsWhatCannotBeBlocked) {
  EXPECT_THROW(SignalSet({SIGKILL}), std::invalid_argument);
  EXPECT_THROW(SignalSet({SIGSTOP}), std::invalid_argument);
  EXPECT_THROW(SignalSet({0}), std::invalid_argument);
  EXPECT_THROW(SignalSet({1000}), std::invalid_argument);
  EXPECT_THROW(SignalSet(std::initializer_list<int>{}), std::invalid_argument);
  EXPECT_THROW(block_signals({SIGKILL}), std::invalid_argument);
}

}  // namespace
}  // namespace picos::io
