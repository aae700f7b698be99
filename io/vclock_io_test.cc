// Copyright 2026 The Picos for C++ Authors.
//
// picos::io against timers, on every scheduler of the conformance matrix: a read that waits
// for a writer who sleeps first must get the data, not the reader's much later deadline.
// On the virtual clock (randos_vclock) this checks time itself: the scheduler must look for
// ready descriptors before it jumps to the next timer, so virtual time advances by the
// writer's sleep and no further. Probe computations with their own timers tell
// how far (virtual) time went: one due a little before the writer wakes must have fired,
// one due a little after must not have. Only the virtual clock is checked that tightly; on
// the real clock the checks are the data and the absence of the deadline's Terminate.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "io/io.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/structured/control.h"
#include "std/sync/sync_testing.h"

namespace picos::io {
namespace {

namespace st = picos::sync::testing;

using namespace std::chrono_literals;
using structured::Control;
using structured::Terminate;

bool virtual_clock() { return picos::testing::capabilities().virtual_clock; }

// A computation canceled by its own timer after `delay`: whether it has fired tells whether
// (virtual) time has passed `delay` since it was armed. done() removes the timer.
class Probe {
 public:
  explicit Probe(std::chrono::nanoseconds delay) { c_.cancel_after(delay, st::stop()); }
  ~Probe() { c_.finish(); }
  bool fired() const { return c_.is_canceled(); }

 private:
  Computation<void> c_;
};

// Reads one byte from `fd` under a 30 s deadline; returns the byte, or -1 on Terminate.
int read_byte_before_deadline(int fd) {
  try {
    char b = 0;
    ssize_t n = Control::terminate_after(30s, [&] { return io::read(fd, &b, 1); });
    EXPECT_EQ(n, 1);
    return static_cast<unsigned char>(b);
  } catch (const Terminate&) {
    return -1;
  }
}

TEST(VclockIoTest, ReadGetsTheDataOfAWriterThatSleepsFirst) {
  picos::testing::run([] {
    int p[2];
    io::pipe(p);
    const int rounds = picos::sync::testing::threads_are_fibers() ? 5 : 20;
    for (int round = 0; round < rounds; ++round) {
      Probe before(19ms), after(21ms);
      auto writer = st::fork([&] {
        Fiber::sleep(20ms);
        io::write_all(p[1], "x", 1);
      });
      // Nothing is ready while the writer sleeps: a virtual clock jumps to its timer, and
      // then must see the pipe become readable before it jumps on to the 30 s deadline.
      EXPECT_EQ(read_byte_before_deadline(p[0]), 'x') << "round " << round;
      writer.await();
      if (virtual_clock()) {
        EXPECT_TRUE(before.fired()) << "virtual time did not reach the writer's wake-up";
        EXPECT_FALSE(after.fired()) << "virtual time ran past the write (round " << round << ")";
      }
    }
    io::close(p[0]);
    io::close(p[1]);
  });
}

TEST(VclockIoTest, StaggeredWritersAreReadInTimeOrder) {
  picos::testing::run([] {
    constexpr int kPipes = 5;
    int p[kPipes][2];
    for (auto& q : p) io::pipe(q);
    std::mutex mu;  // the readers may run in parallel (multififo, thread, nosched)
    std::vector<int> order;
    std::vector<int> got(kPipes, -2);  // by reader
    std::atomic<int> terminated{0};
    Probe before(kPipes * 10ms - 1ms), after(kPipes * 10ms + 1ms);
    std::vector<Computation<void>> fibers;
    for (int i = 0; i < kPipes; ++i) {
      fibers.push_back(st::fork([&, i] {
        int b = read_byte_before_deadline(p[i][0]);
        if (b < 0) ++terminated;
        std::lock_guard<std::mutex> lock(mu);
        got[i] = b;
        order.push_back(b);
      }));
    }
    for (int i = kPipes - 1; i >= 0; --i) {
      fibers.push_back(st::fork([&, i] {
        Fiber::sleep((i + 1) * 10ms);
        char b = static_cast<char>(i);
        io::write_all(p[i][1], &b, 1);
      }));
    }
    for (auto& f : fibers) f.await();
    EXPECT_EQ(terminated.load(), 0);
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));  // each reader got its pipe's byte
    if (virtual_clock()) {
      EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
      EXPECT_TRUE(before.fired());
      EXPECT_FALSE(after.fired());
    }
    for (auto& q : p) {
      io::close(q[0]);
      io::close(q[1]);
    }
  });
}

TEST(VclockIoTest, ASilentPipeDoesNotHoldTimeBack) {
  picos::testing::run([] {
    int p[2];
    io::pipe(p);
    // On the virtual clock the 30 s deadline passes at once: nothing is readable, so time
    // jumps to it. Elsewhere a short deadline shows the same composition.
    auto deadline =
        virtual_clock() ? std::chrono::nanoseconds(30s) : std::chrono::nanoseconds(50ms);
    bool terminated = false;
    try {
      char b;
      (void)Control::terminate_after(deadline, [&] { return io::read(p[0], &b, 1); });
    } catch (const Terminate&) {
      terminated = true;
    }
    EXPECT_TRUE(terminated);
    io::close(p[0]);
    io::close(p[1]);
  });
}

TEST(VclockIoTest, WakeUpFromAnotherThreadWhileFibersWaitForIo) {
  picos::testing::run([] {
    int p[2];
    io::pipe(p);
    // A fiber blocked on a silent pipe and no timer: the scheduler has only IO to wait for.
    auto reader = st::fork([&] {
      char b = 0;
      EXPECT_EQ(io::read(p[0], &b, 1), 1);
      EXPECT_EQ(b, 'y');
    });
    Trigger t;
    std::thread signaler([t] {
      std::this_thread::sleep_for(20ms);
      t.signal();
    });
    (void)t.await();  // woken from the other thread while the reader waits for IO
    signaler.join();
    io::write_all(p[1], "y", 1);
    reader.await();
    io::close(p[0]);
    io::close(p[1]);
  });
}

}  // namespace
}  // namespace picos::io
