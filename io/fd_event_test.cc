// Copyright 2026 The Picos for C++ Authors.
//
// io::readable_evt / writable_evt / ready_evt in selects with channels and timeouts, on every
// scheduler of the matrix. The events run through a reactor that wraps the scheduler's and
// counts registrations, so each test checks that a finished select left nothing registered;
// every test checks that it leaves no descriptor open. Nothing asserts a duration.

#include "io/fd_event.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

#include "gtest/gtest.h"
#include "io/io.h"
#include "io/testing.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/event/event.h"
#include "std/event/sync_events.h"
#include "std/sync/channel.h"
#include "std/sync/sync_testing.h"

namespace picos::io {
namespace {

namespace st = picos::sync::testing;
using namespace std::chrono_literals;

enum class Got { kReadable, kWritable, kChannel, kTimeout };

// The reactor io uses here, with a count of the interests it holds (added, not yet removed).
class CountingReactor final : public Reactor {
 public:
  CountingReactor() : inner_(current_reactor()) {}
  void add(FdInterest& w) override {
    inner_.add(w);
    adds_.fetch_add(1);
    live_.fetch_add(1);
  }
  void remove(FdInterest& w) noexcept override {
    inner_.remove(w);
    live_.fetch_sub(1);
  }
  void forget(int fd) noexcept override { inner_.forget(fd); }
  int adds() const { return adds_.load(); }
  int live() const { return live_.load(); }

 private:
  Reactor& inner_;
  std::atomic<int> adds_{0};
  std::atomic<int> live_{0};
};

event::Event<Got> readable(int fd, CountingReactor& r) {
  return event::map(readable_evt(fd, &r), [] { return Got::kReadable; });
}
event::Event<Got> writable(int fd, CountingReactor& r) {
  return event::map(writable_evt(fd, &r), [] { return Got::kWritable; });
}
event::Event<Got> timeout(double seconds) {
  return event::map(event::after(seconds), [] { return Got::kTimeout; });
}

int error_of(const std::function<void()>& fn, std::string* what = nullptr) {
  try {
    fn();
  } catch (const std::system_error& e) {
    if (what) *what = e.what();
    return e.code().value();
  }
  return 0;
}

using FdEventTest = picos::io::testing::NoFdLeakTest;

TEST_F(FdEventTest, SocketReadableWinsOverALaterTimeout) {
  picos::testing::run([] {
    CountingReactor r;
    int s[2];
    io::socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    auto writer = st::fork([&] {
      io::sleep(0.01);
      io::write_all(s[1], "x", 1);
    });
    EXPECT_EQ(event::select({readable(s[0], r), timeout(30.0)}), Got::kReadable);
    EXPECT_LE(r.adds(), 1);  // 0 if the byte came before the select started (no timing assumed)
    EXPECT_EQ(r.live(), 0);
    char b = 0;
    EXPECT_EQ(io::read(s[0], &b, 1), 1);
    EXPECT_EQ(b, 'x');
    writer.await();
    io::close(s[0]);
    io::close(s[1]);
  });
}

TEST_F(FdEventTest, ReadyOnEntryCommitsAtOnceRegisteringNothing) {
  picos::testing::run([] {
    CountingReactor r;
    int s[2];
    io::socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    io::write_all(s[1], "y", 1);
    // Both ready on entry: the first listed wins.
    EXPECT_EQ(event::select({readable(s[0], r), writable(s[0], r)}), Got::kReadable);
    EXPECT_EQ(event::select({writable(s[0], r), readable(s[0], r)}), Got::kWritable);
    event::sync(ready_evt(s[0], kFdRead | kFdWrite, &r));
    EXPECT_EQ(r.adds(), 0);
    // Readiness consumes nothing: the byte is still there.
    char b = 0;
    EXPECT_EQ(io::read(s[0], &b, 1), 1);
    EXPECT_EQ(b, 'y');
    // End of file is readable.
    io::shutdown(s[1], SHUT_WR);
    event::sync(readable_evt(s[0]));
    EXPECT_EQ(io::read(s[0], &b, 1), 0);
    EXPECT_THROW((void)ready_evt(s[0], 0), std::invalid_argument);
    io::close(s[0]);
    io::close(s[1]);
  });
}

TEST_F(FdEventTest, TimeoutWinsAndTheSocketsInterestIsRemoved) {
  picos::testing::run([] {
    CountingReactor r;
    int s[2];
    io::socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    EXPECT_EQ(event::select({readable(s[0], r), timeout(0.01)}), Got::kTimeout);
    EXPECT_EQ(r.adds(), 1);
    EXPECT_EQ(r.live(), 0);
    // The socket still works for an ordinary wait.
    auto writer = st::fork([&] {
      io::sleep(0.01);
      io::write_all(s[1], "z", 1);
    });
    char b = 0;
    EXPECT_EQ(io::read(s[0], &b, 1), 1);
    EXPECT_EQ(b, 'z');
    writer.await();
    io::close(s[0]);
    io::close(s[1]);
  });
}

TEST_F(FdEventTest, WritableAfterThePeerDrains) {
  picos::testing::run([] {
    CountingReactor r;
    int s[2];
    io::socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    char chunk[4096] = {};
    std::size_t filled = 0;
    for (;;) {  // fill the socket's buffers
      ssize_t n = ::send(s[0], chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
        break;
      }
      filled += static_cast<std::size_t>(n);
    }
    EXPECT_EQ(event::select({writable(s[0], r), timeout(0.01)}), Got::kTimeout);
    auto drainer = st::fork([&] {
      io::sleep(0.01);
      std::size_t got = 0;
      while (got < filled) got += static_cast<std::size_t>(io::read(s[1], chunk, sizeof chunk));
    });
    EXPECT_EQ(event::select({writable(s[0], r), timeout(30.0)}), Got::kWritable);
    drainer.await();
    EXPECT_EQ(r.live(), 0);
    io::close(s[0]);
    io::close(s[1]);
  });
}

TEST_F(FdEventTest, ChannelWins) {
  picos::testing::run([] {
    CountingReactor r;
    int s[2];
    io::socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    sync::Channel<int> ch(0);  // rendezvous
    auto sender = st::fork([&] {
      io::sleep(0.01);
      ch.send(7);
    });
    std::optional<int> value;
    Got got = event::select({readable(s[0], r),
                             event::map(event::receive_evt(ch),
                                        [&](std::optional<int> v) {
                                          value = v;
                                          return Got::kChannel;
                                        }),
                             timeout(30.0)});
    EXPECT_EQ(got, Got::kChannel);
    EXPECT_EQ(value, 7);
    EXPECT_EQ(r.live(), 0);
    sender.await();
    io::close(s[0]);
    io::close(s[1]);
  });
}

TEST_F(FdEventTest, SelectLoopLeavesNothingBehind) {
  picos::testing::run([] {
    CountingReactor r;
    int s[2];
    io::socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    sync::Channel<int> ch(0);  // rendezvous
    const int n = st::threads_are_fibers() || picos::testing::kSanitizer ? 300 : 3000;
    auto sender = st::fork([&] {
      for (int i = 0; i < n; ++i) {
        if (i % 3 == 0) {
          io::write_all(s[1], "d", 1);
        } else {
          ch.send(i);
        }
      }
    });
    int bytes = 0, values = 0;
    char b;
    while (bytes + values < n) {
      Got got = event::select(
          {readable(s[0], r),
           event::map(event::receive_evt(ch), [](auto) { return Got::kChannel; }), timeout(60.0)});
      ASSERT_NE(got, Got::kTimeout);
      if (got == Got::kReadable) {
        // Not io::read: readiness may be spurious (io/fd_event.h), and io::read would then
        // wait for a byte that the sender, blocked on the rendezvous channel, never writes.
        const ssize_t k = ::read(s[0], &b, 1);
        if (k == 1) {
          ++bytes;
        } else {
          ASSERT_TRUE(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << k;
        }
      } else {
        ++values;
      }
      ASSERT_EQ(r.live(), 0);
    }
    sender.await();
    EXPECT_EQ(bytes, (n + 2) / 3);
    EXPECT_EQ(values, n - (n + 2) / 3);
    io::close(s[0]);
    io::close(s[1]);
  });
}

TEST_F(FdEventTest, CancelingTheSelectingFiberRemovesTheInterest) {
  picos::testing::run([] {
    CountingReactor r;
    int s[2];
    io::socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    std::atomic<int> outcome{0};  // 1 canceled, 2 returned
    auto v = st::spawn_victim([&] {
      try {
        (void)event::select({readable(s[0], r), timeout(1000.0)});
        outcome = 2;
      } catch (const st::Stop&) {
        outcome = 1;
        throw;
      }
    });
    while (r.live() == 0) io::sleep(0.001);  // the select waits: its interest is added
    v.c.cancel(st::stop());
    v.done.wait();
    EXPECT_EQ(outcome.load(), 1);
    EXPECT_EQ(r.adds(), 1);
    EXPECT_EQ(r.live(), 0);
    // Data that arrives now is still there for a reader.
    io::write_all(s[1], "q", 1);
    char b = 0;
    EXPECT_EQ(io::read(s[0], &b, 1), 1);
    EXPECT_EQ(b, 'q');
    io::close(s[0]);
    io::close(s[1]);
  });
}

TEST_F(FdEventTest, CloseWhileSelectingThrowsEbadf) {
  picos::testing::run([] {
    CountingReactor r;
    int p[2];
    io::pipe(p);
    std::atomic<bool> selecting{false};
    int err = 0;
    std::string what;
    auto selector = st::fork([&] {
      selecting = true;
      err = error_of([&] { (void)event::select({readable(p[0], r), timeout(30.0)}); }, &what);
    });
    while (!selecting.load()) io::sleep(0.001);
    while (r.live() == 0) io::sleep(0.001);  // the select waits: its interest is added
    io::close(p[0]);                         // wakes the select's interest with kClosed
    selector.await();
    EXPECT_EQ(err, EBADF);
    EXPECT_NE(what.find("picos::io::readable_evt"), std::string::npos) << what;
    EXPECT_EQ(r.live(), 0);
    io::close(p[1]);
    // A descriptor that is not open throws at once.
    EXPECT_EQ(error_of([] { event::sync(readable_evt(1 << 20)); }, &what), EBADF);
    EXPECT_EQ(error_of([] { event::sync(writable_evt(1 << 20)); }, &what), EBADF);
    EXPECT_NE(what.find("picos::io::writable_evt"), std::string::npos) << what;
  });
}

}  // namespace
}  // namespace picos::io
