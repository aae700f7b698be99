// Copyright 2026 The Picos for C++ Authors.
//
// picos::io on every scheduler of the conformance matrix, over real loopback sockets, pipes
// and child processes. Every test checks that it leaves no descriptor open.

#include "io/io.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "io/read_hint.h"
#include "io/testing.h"
#include "mux/fifo/fifo.h"
#include "mux/testing/testing.h"
#include "picos/debug.h"
#include "picos/picos.h"
#include "std/structured/control.h"
#include "std/sync/sync_testing.h"

namespace picos::io {
namespace {

namespace st = picos::sync::testing;

int fibers(int n) {
  if (st::threads_are_fibers()) return std::min(n, 10);
  return picos::testing::kSanitizer ? std::min(n, 50) : n;
}
bool virtual_clock() { return picos::testing::capabilities().virtual_clock; }

int error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::system_error& e) {
    return e.code().value();
  }
  return 0;
}

// A listening TCP socket on 127.0.0.1 with an ephemeral port.
int listen_loopback(int backlog, sockaddr_in* addr) {
  int fd = io::socket(AF_INET, SOCK_STREAM, 0);
  *addr = sockaddr_in{};
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof *addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(addr), len) != 0 || ::listen(fd, backlog) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(addr), &len) != 0) {
    ADD_FAILURE() << "listen: " << std::generic_category().message(errno);
  }
  return fd;
}

int connect_to(const sockaddr_in& addr) {
  int fd = io::socket(AF_INET, SOCK_STREAM, 0);
  try {
    io::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } catch (...) {
    io::close(fd);
    throw;
  }
  return fd;
}

// Runs `op` in a victim fiber and cancels it after `delay` seconds: true if the cancelation
// caught it blocked in `op` (it threw the reason), false if `op` returned or failed first.
bool canceled_while_blocked(const std::function<void()>& op, double delay = 0.02) {
  std::atomic<int> outcome{0};  // 1 stop, 2 returned
  auto v = st::spawn_victim([&] {
    try {
      op();
      outcome = 2;
    } catch (const st::Stop&) {
      outcome = 1;
      throw;
    }
  });
  io::sleep(delay);
  v.c.cancel(st::stop());
  v.done.wait();
  return outcome.load() == 1;
}

using IoTest = picos::io::testing::NoFdLeakTest;

// ---- pipes -------------------------------------------------------------------------------

TEST_F(IoTest, LargePayloadThroughAPipeWithPartialReadsAndWrites) {
  picos::testing::run([] {
    int p[2];
    io::pipe(p);
    EXPECT_TRUE(::fcntl(p[0], F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(p[1], F_GETFD) & FD_CLOEXEC);
    const std::size_t kBytes = (picos::testing::kSanitizer ? 2 : 8) << 20;
    auto writer = st::fork([&] {
      std::vector<unsigned char> data(kBytes);
      for (std::size_t i = 0; i < kBytes; ++i)
        data[i] = static_cast<unsigned char>(i * 31 + (i >> 12));
      io::write_all(p[1], data.data(), data.size());
      io::close(p[1]);
    });
    std::vector<unsigned char> buf(1 << 16);
    std::size_t got = 0, reads = 0;
    bool ok = true;
    for (;;) {
      std::size_t want = 1 + (reads * 7919) % buf.size();
      ssize_t n = io::read(p[0], buf.data(), want);
      ++reads;
      if (n == 0) break;
      for (ssize_t i = 0; i < n; ++i, ++got) {
        ok = ok && buf[i] == static_cast<unsigned char>(got * 31 + (got >> 12));
      }
    }
    writer.await();
    EXPECT_TRUE(ok);
    EXPECT_EQ(got, kBytes);
    EXPECT_GT(reads, 2u);
    io::close(p[0]);
  });
}

TEST_F(IoTest, ReadvWritevPreadPwrite) {
  picos::testing::run([] {
    int p[2];
    io::pipe(p);
    char a[] = "hello, ", b[] = "vectored ", c[] = "world";
    iovec out[3] = {{a, 7}, {b, 9}, {c, 5}};
    EXPECT_EQ(io::writev(p[1], out, 3), 21);
    char x[10], y[11];
    iovec in[2] = {{x, 10}, {y, 11}};
    EXPECT_EQ(io::readv(p[0], in, 2), 21);
    EXPECT_EQ(std::string(x, 10) + std::string(y, 11), "hello, vectored world");
    io::close(p[0]);
    io::close(p[1]);

    std::string path =
        std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") +
        "/io_test_XXXXXX";
    int fd = ::mkstemp(path.data());
    ASSERT_GE(fd, 0);
    ::unlink(path.c_str());
    EXPECT_EQ(io::pwrite(fd, "abcdef", 6, 100), 6);
    char r[4] = {};
    EXPECT_EQ(io::pread(fd, r, 3, 102), 3);
    EXPECT_EQ(std::string(r, 3), "cde");
    EXPECT_EQ(error_of([&] { (void)io::pread(-1, r, 1, 0); }), EBADF);
    io::close(fd);
  });
}

TEST_F(IoTest, WriteToAClosedPipeIsEpipeNotSigpipe) {
  picos::testing::run([] {
    int p[2];
    io::pipe(p);
    io::close(p[0]);
    try {
      (void)io::write(p[1], "x", 1);
      ADD_FAILURE() << "no error";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), EPIPE);
      EXPECT_NE(std::string(e.what()).find("picos::io::write"), std::string::npos) << e.what();
    }
    io::close(p[1]);
  });
}

// ---- sockets -----------------------------------------------------------------------------

TEST_F(IoTest, EchoWithManyClients) {
  picos::testing::run([] {
    sockaddr_in addr;
    int lfd = listen_loopback(SOMAXCONN, &addr);
    const int n = fibers(100), rounds = picos::testing::kSanitizer ? 5 : 20;
    auto server = st::fork([&] {
      std::vector<Computation<void>> conns;
      for (int i = 0; i < n; ++i) {
        int fd = io::accept(lfd);
        conns.push_back(st::fork([fd] {
          char buf[256];
          for (;;) {
            ssize_t k = io::recv(fd, buf, sizeof buf);
            if (k == 0) break;
            io::write_all(fd, buf, static_cast<std::size_t>(k));
          }
          io::close(fd);
        }));
      }
      for (auto& c : conns) c.await();
    });
    std::vector<Computation<void>> clients;
    std::atomic<int> good{0};
    for (int i = 0; i < n; ++i) {
      clients.push_back(st::fork([&, i] {
        int fd = connect_to(addr);
        char msg[64], back[64];
        bool ok = true;
        for (int r = 0; r < rounds; ++r) {
          std::memset(msg, 'a' + (i + r) % 26, sizeof msg);
          std::size_t sent = 0;
          while (sent < sizeof msg)
            sent += static_cast<std::size_t>(io::send(fd, msg + sent, sizeof msg - sent));
          ok = ok && io::read_full(fd, back, sizeof back) == sizeof back &&
               std::memcmp(msg, back, sizeof msg) == 0;
        }
        io::close(fd);
        if (ok) ++good;
      }));
    }
    for (auto& c : clients) c.await();
    server.await();
    EXPECT_EQ(good.load(), n);
    io::close(lfd);
  });
}

TEST_F(IoTest, AcceptStorm) {
  picos::testing::run([] {
    sockaddr_in addr;
    int lfd = listen_loopback(SOMAXCONN, &addr);
    const int n = fibers(200);
    std::vector<Computation<void>> clients;
    std::atomic<int> acked{0};
    for (int i = 0; i < n; ++i) {
      clients.push_back(st::fork([&] {
        int fd = connect_to(addr);
        char c = 0;
        if (io::read(fd, &c, 1) == 1 && c == '!') ++acked;
        io::close(fd);
      }));
    }
    // Several acceptors on one listener.
    std::atomic<int> accepted{0};
    std::vector<Computation<void>> acceptors;
    for (int a = 0; a < 4; ++a) {
      acceptors.push_back(st::fork([&] {
        while (accepted.fetch_add(1) < n) {
          int fd = io::accept(lfd);
          io::write_all(fd, "!", 1);
          io::close(fd);
        }
      }));
    }
    for (auto& c : clients) c.await();
    for (auto& c : acceptors) c.await();
    EXPECT_EQ(acked.load(), n);
    io::close(lfd);
  });
}

TEST_F(IoTest, HalfCloseAndPeerReset) {
  picos::testing::run([] {
    sockaddr_in addr;
    int lfd = listen_loopback(16, &addr);
    // Half-close: the client shuts down its sending side and still reads the reply.
    auto server = st::fork([&] {
      int fd = io::accept(lfd);
      char buf[64];
      std::size_t n = io::read_full(fd, buf, sizeof buf);  // until the client's EOF
      EXPECT_EQ(std::string(buf, n), "question");
      io::write_all(fd, "answer", 6);
      io::close(fd);
    });
    int c = connect_to(addr);
    io::write_all(c, "question", 8);
    io::shutdown(c, SHUT_WR);
    char buf[64];
    EXPECT_EQ(std::string(buf, io::read_full(c, buf, sizeof buf)), "answer");
    EXPECT_EQ(io::read(c, buf, sizeof buf), 0);
    server.await();
    io::close(c);

    // Reset: the server is blocked in read when the client aborts the connection.
    std::atomic<int> read_error{0}, send_error{0};
    auto server2 = st::fork([&] {
      int fd = io::accept(lfd);
      read_error = error_of([&] {
        char b[16];
        while (io::read(fd, b, sizeof b) > 0) {
        }
      });
      send_error = error_of([&] {
        for (int i = 0; i < 4; ++i) (void)io::send(fd, "x", 1);
      });
      io::close(fd);
    });
    int c2 = connect_to(addr);
    io::sleep(0.02);
    linger lg{1, 0};
    ASSERT_EQ(::setsockopt(c2, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    io::close(c2);  // sends RST
    server2.await();
    EXPECT_EQ(read_error.load(), ECONNRESET);
    EXPECT_EQ(send_error.load(), EPIPE);
    io::close(lfd);
  });
}

TEST_F(IoTest, ConnectRefused) {
  picos::testing::run([] {
    sockaddr_in addr;
    int l = listen_loopback(1, &addr);
    io::close(l);  // nothing listens on that port now
    int fd = io::socket(AF_INET, SOCK_STREAM, 0);
    try {
      io::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
      ADD_FAILURE() << "connected";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), ECONNREFUSED);
      EXPECT_NE(std::string(e.what()).find("connect"), std::string::npos) << e.what();
    }
    io::close(fd);
  });
}

TEST_F(IoTest, EmfileIsAClearErrorAndTheServerKeepsServing) {
  picos::testing::run([] {
    sockaddr_in addr;
    int lfd = listen_loopback(16, &addr);
    std::atomic<int> emfile{0}, served{0};
    std::atomic<bool> stop_server{false};
    auto server = st::fork([&] {
      while (!stop_server) {
        int fd = -1;
        try {
          fd = io::accept(lfd);
        } catch (const std::system_error& e) {
          if (e.code().value() != EMFILE) throw;
          ++emfile;
        }
        if (fd < 0) {  // back off outside the handler: never suspend inside a catch block
          io::sleep(0.002);
          continue;
        }
        char b[8];
        if (io::read_full(fd, b, 4) == 4) io::write_all(fd, b, 4);
        io::close(fd);
        ++served;
      }
    });
    auto roundtrip = [&](int fd) {
      io::write_all(fd, "ping", 4);
      char b[4];
      return io::read_full(fd, b, 4) == 4 && std::memcmp(b, "ping", 4) == 0;
    };
    int c1 = connect_to(addr);
    EXPECT_TRUE(roundtrip(c1));
    io::close(c1);
    // The server closes its side after replying: wait, or that may open a hole below the
    // limit once it is lowered.
    while (served.load() < 1) io::sleep(0.001);

    // Made before the limit is lowered, connected after: the server cannot accept it.
    int c2 = io::socket(AF_INET, SOCK_STREAM, 0);
    rlimit old;
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
    int lowest_free = ::dup(0);  // the descriptor number the next one would get
    ASSERT_GE(lowest_free, 0);
    ::close(lowest_free);
    rlimit low = old;
    low.rlim_cur = static_cast<rlim_t>(lowest_free);  // every number below it is in use
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    // Another thread (a sanitizer runtime reading /proc/self/maps) may have left a hole
    // below the limit meanwhile: fill every free number.
    std::vector<int> fillers;
    for (int f; (f = ::dup(0)) >= 0;) fillers.push_back(f);
    int socket_error = error_of([] { io::close(io::socket(AF_INET, SOCK_STREAM, 0)); });
    io::connect(c2, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    for (int i = 0; emfile.load() == 0 && i < 2000; ++i) io::sleep(0.002);
    for (int f : fillers) ::close(f);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
    EXPECT_EQ(socket_error, EMFILE);
    EXPECT_TRUE(roundtrip(c2));  // served once the limit is back
    io::close(c2);
    stop_server = true;
    int c3 = connect_to(addr);  // wakes the server's accept so that it sees stop_server
    io::close(c3);
    server.await();
    EXPECT_GE(served.load(), 2);
    EXPECT_GT(emfile.load(), 0);
    io::close(lfd);
  });
}

// ---- cancelation, close, timeouts --------------------------------------------------------

TEST_F(IoTest, CancelBlockedReadLeavesThePipeUsable) {
  picos::testing::run([] {
    int p[2];
    io::pipe(p);
    EXPECT_TRUE(canceled_while_blocked([&] {
      char b;
      (void)io::read(p[0], &b, 1);
    }));
    io::write_all(p[1], "z", 1);
    char b = 0;
    EXPECT_EQ(io::read(p[0], &b, 1), 1);
    EXPECT_EQ(b, 'z');
    io::close(p[0]);
    io::close(p[1]);
  });
}

TEST_F(IoTest, CancelBlockedAcceptLeavesTheListenerUsable) {
  picos::testing::run([] {
    sockaddr_in addr;
    int lfd = listen_loopback(16, &addr);
    EXPECT_TRUE(canceled_while_blocked([&] { io::close(io::accept(lfd)); }));
    auto client = st::fork([&] { io::close(connect_to(addr)); });
    int fd = io::accept(lfd);
    client.await();
    io::close(fd);
    io::close(lfd);
  });
}

TEST_F(IoTest, CancelBlockedConnect) {
  picos::testing::run([] {
    // A listener whose accept queue is full drops SYNs: connects stay in progress.
    sockaddr_in addr;
    int lfd = listen_loopback(0, &addr);
    std::vector<int> fds;
    bool blocked = false;
    for (int i = 0; i < 8 && !blocked; ++i) {
      int fd = io::socket(AF_INET, SOCK_STREAM, 0);
      fds.push_back(fd);
      blocked = canceled_while_blocked(
          [&] { io::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr); }, 0.03);
      if (blocked) {
        EXPECT_EQ(::fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);  // still open and ours
      }
    }
    EXPECT_TRUE(blocked) << "no connect stayed in progress";
    for (int fd : fds) io::close(fd);
    io::close(lfd);
  });
}

TEST_F(IoTest, CloseWakesAWaiterWithEbadf) {
  picos::testing::run([] {
    int p[2];
    io::pipe(p);
    std::atomic<int> err{-1};
    auto waiter = st::fork([&] {
      err = error_of([&] {
        char b;
        (void)io::read(p[0], &b, 1);
      });
    });
    io::sleep(0.02);
    io::close(p[0]);
    waiter.await();
    EXPECT_EQ(err.load(), EBADF);
    io::close(p[1]);
  });
}

// io::close from any thread or scheduler reaches the reactor the waiter is blocked in (the
// conformance matrix supplies the waiter's scheduler, nosched included). `close_from` runs
// `closer(fd)` somewhere while a reader of this configuration is blocked on fd; the reader
// must wake with EBADF. A reader never woken is canceled after 10 s (wall clock; not on the
// virtual clock, which would fire it at once), so a regression fails instead of hanging.
enum class Closer { kSameScheduler, kPlainThread, kOtherSchedulersFiber };

void close_from(Closer closer, int fd) {
  switch (closer) {
    case Closer::kSameScheduler:
      io::close(fd);
      return;
    case Closer::kPlainThread:
    case Closer::kOtherSchedulersFiber: {
      // The test fiber waits on a computation, not in join(): joining would hold the
      // scheduler's thread, and the close must not need it.
      Computation<void> closed;
      std::thread t([closer, fd, closed] {
        if (closer == Closer::kPlainThread) {
          io::close(fd);
        } else {
          mux::fifo::run([fd] { io::close(fd); });
        }
        closed.finish();
      });
      closed.wait();
      t.join();
      return;
    }
  }
}

void expect_close_wakes_reader(Closer closer) {
  picos::testing::run([closer] {
    int p[2];
    io::pipe(p);
    std::atomic<int> err{-1};
    st::Victim v = st::spawn_victim([&] {
      err = error_of([&] {
        char b;
        (void)io::read(p[0], &b, 1);
      });
    });
    if (!virtual_clock()) v.c.cancel_after(10.0, st::stop());
    io::sleep(0.02);  // the reader blocks meanwhile (if not, it still gets EBADF)
    close_from(closer, p[0]);
    v.done.wait();
    EXPECT_EQ(err.load(), EBADF) << "the reader was not woken by the close";
    io::close(p[1]);
  });
}

TEST_F(IoTest, CloseFromTheSameSchedulerWakesAReader) {
  expect_close_wakes_reader(Closer::kSameScheduler);
}

TEST_F(IoTest, CloseFromAPlainThreadWakesAReader) {
  expect_close_wakes_reader(Closer::kPlainThread);
}

TEST_F(IoTest, CloseFromAnotherSchedulersFiberWakesAReader) {
  expect_close_wakes_reader(Closer::kOtherSchedulersFiber);
}

// Readers of one descriptor in two reactors at once (this configuration's and a fifo
// scheduler's on another thread), closed from a plain thread: both wake.
TEST_F(IoTest, CloseWakesReadersInEveryReactor) {
  picos::testing::run([] {
    int p[2];
    io::pipe(p);
    std::atomic<int> here{-1}, there{-1};
    st::Victim v = st::spawn_victim([&] {
      here = error_of([&] {
        char b;
        (void)io::read(p[0], &b, 1);
      });
    });
    if (!virtual_clock()) v.c.cancel_after(10.0, st::stop());
    Computation<void> other_done;
    std::thread other([&, other_done] {
      mux::fifo::run([&] {
        Computation<void> c;
        c.cancel_after(10.0, st::stop());
        Fiber::spawn(Fiber::create(c), [&, c] {
          c.capture([&] {
            there = error_of([&] {
              char b;
              (void)io::read(p[0], &b, 1);
            });
          });
        });
        c.wait();
      });
      other_done.finish();
    });
    // Both readers must be suspended in their reactors before the close: a close that came
    // first would free the number for the other thread's reactor to reuse. A sleep does not
    // ensure it (the virtual clock skips it; the other thread may be slow), the registry does.
    const auto blocked_readers = [fd = p[0]] {
      int n = 0;
      for (const debug::FiberInfo& i : debug::fibers()) {
        if (i.suspended && i.detail == debug::Detail::kFd && i.value == fd) ++n;
      }
      return n;
    };
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (blocked_readers() < 2 && std::chrono::steady_clock::now() < give_up) {
      io::sleep(0.001);
    }
    EXPECT_EQ(blocked_readers(), 2) << "the two readers never blocked";
    close_from(Closer::kPlainThread, p[0]);
    v.done.wait();
    other_done.wait();
    other.join();
    EXPECT_EQ(here.load(), EBADF);
    EXPECT_EQ(there.load(), EBADF);
    io::close(p[1]);
  });
}

// A fiber that keeps its scheduler busy (it yields and makes no system call, so the thread
// neither sleeps nor enters the kernel) does not hold up a wait for a descriptor: schedulers
// poll their reactor between runs of ready fibers, and io_uring's completions, which the
// kernel posts as task work of the submitting thread, reach that poll too
// (poller/uring_poller.h).
TEST_F(IoTest, ReadinessArrivesWhileAFiberKeepsTheSchedulerBusy) {
  picos::testing::run([] {
    int p[2];
    io::pipe(p);
    std::atomic<bool> got{false};
    auto reader = st::fork([&] {
      char b = 0;
      EXPECT_EQ(io::read(p[0], &b, 1), 1);  // blocks: nothing written yet
      got.store(true);
    });
    Fiber::yield();  // the reader waits now (on one-thread schedulers)
    std::thread writer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      char x = 'x';
      EXPECT_EQ(::write(p[1], &x, 1), 1);
    });
    const auto deadline = std::chrono::steady_clock::now() + testing::kPatience;
    long spins = 0;
    while (!got.load() && std::chrono::steady_clock::now() < deadline) {
      Fiber::yield();
      ++spins;
    }
    EXPECT_TRUE(got.load()) << "the reader did not run while this fiber kept yielding (" << spins
                            << " yields)";
    writer.join();
    reader.await();
    io::close(p[0]);
    io::close(p[1]);
  });
}

// A reactor may keep a descriptor registered between waits; a plain ::close (not io::close)
// removes it from the kernel's epoll set behind the reactor's back, and the next pipe
// usually gets the same numbers. Waits on the new descriptors must still work.
TEST_F(IoTest, DescriptorClosedBehindTheReactorsBackAndItsNumberReused) {
  picos::testing::run([] {
    for (int round = 0; round < 3; ++round) {
      int p[2];
      io::pipe(p);
      auto reader = st::fork([&] {
        char b = 0;
        // Blocks (nothing written yet), so the reactor registers p[0].
        EXPECT_EQ(io::read(p[0], &b, 1), 1);
        EXPECT_EQ(b, 'x');
      });
      io::sleep(0.005);
      char x = 'x';
      io::write_all(p[1], &x, 1);
      reader.await();  // a lost registration would hang here: the test's timeout reports it
      ::close(p[0]);
      ::close(p[1]);
    }
  });
}

// ---- the read hint (io/read_hint.h) --------------------------------------------------------

// Ping-pong over `sv` until reads of sv[0] wait first: each read of sv[0] finds nothing and
// waits for the peer's answer, as a server's reads of a connection do. Returns whether the
// hint got there (within 500 exchanges: on schedulers with several threads the answer may,
// rarely, be there before the read).
bool train_read_hint(int sv[2]) {
  auto echo = st::fork([&] {
    char c = 0;
    while (io::read(sv[1], &c, 1) == 1 && c != 'q') io::write_all(sv[1], &c, 1);
  });
  bool trained = false;
  for (int i = 0; i < 500 && !trained; ++i) {
    io::write_all(sv[0], "x", 1);
    char buf[64];
    EXPECT_EQ(io::read(sv[0], buf, sizeof buf), 1);
    trained = internal::read_hint(sv[0]).wait_first();
  }
  io::write_all(sv[0], "q", 1);
  echo.await();
  return trained;
}

// A hint that is wrong (data is there) costs a wait that ends at once, never the data: on a
// stream, and on datagrams, several queued.
TEST_F(IoTest, ReadHintThatIsWrongStillReturnsTheDataThatIsThere) {
  picos::testing::run([] {
    for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
      int sv[2];
      io::socketpair(AF_UNIX, type, 0, sv);
      ASSERT_TRUE(train_read_hint(sv)) << "type " << type;
      char buf[64];
      if (type == SOCK_STREAM) {
        EXPECT_EQ(io::read(sv[0], buf, 0), 0);  // nothing to wait for: at once, as ever
      }
      for (const char* m : {"abc", "de", "f"}) io::write_all(sv[1], m, std::strlen(m));
      if (type == SOCK_STREAM) {
        EXPECT_EQ(io::read_full(sv[0], buf, 6), 6u);
        EXPECT_EQ(std::string(buf, 6), "abcdef");
      } else {
        for (const char* m : {"abc", "de", "f"}) {
          const ssize_t n = io::recv(sv[0], buf, sizeof buf, 0);
          ASSERT_EQ(n, static_cast<ssize_t>(std::strlen(m)));
          EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), m);
        }
      }
      io::close(sv[0]);
      io::close(sv[1]);
    }
  });
}

// A read that finds data does not check cancelation, hint or not: a canceled fiber whose
// descriptor's hint says wait first still gets the data that is there.
TEST_F(IoTest, ReadHintDoesNotMakeACanceledFiberMissDataThatIsThere) {
  picos::testing::run([] {
    int sv[2];
    io::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    ASSERT_TRUE(train_read_hint(sv));
    io::write_all(sv[1], "abc", 3);
    Computation<void> c;
    Computation<void> done;
    c.cancel(st::stop());
    std::atomic<ssize_t> got{-2};
    Fiber::spawn(Fiber::create(c), [&, done]() mutable {
      try {
        char buf[64];
        got = io::read(sv[0], buf, sizeof buf);
      } catch (const st::Stop&) {
        got = -1;
      }
      done.finish();
    });
    done.wait();
    EXPECT_EQ(got.load(), 3);
    io::close(sv[0]);
    io::close(sv[1]);
  });
}

// io::close forgets the hint; after a plain ::close the number's stale hint is harmless, even
// when the number is reused by a regular file, which no reactor can wait on.
TEST_F(IoTest, ReadHintIsForgottenByCloseAndHarmlessAfterAPlainClose) {
  picos::testing::run([] {
    int sv[2];
    io::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    ASSERT_TRUE(train_read_hint(sv));
    const int number = sv[0];
    io::close(sv[0]);
    EXPECT_EQ(internal::read_hint(number).bits(), 0);
    io::close(sv[1]);

    io::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    ASSERT_TRUE(train_read_hint(sv));
    ::close(sv[0]);  // behind io's back: the hint stays
    ::close(sv[1]);
    ASSERT_TRUE(internal::read_hint(sv[0]).wait_first());
    const std::string path = ::testing::TempDir() + "/read_hint_file";
    const int f = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(f, 0);
    ASSERT_EQ(::pwrite(f, "hello", 5, 0), 5);
    ASSERT_EQ(::dup2(f, sv[0]), sv[0]);  // the stale number now names the file
    char buf[64];
    EXPECT_EQ(io::read(sv[0], buf, sizeof buf), 5);  // not EPERM from a reactor, not a hang
    EXPECT_EQ(std::string(buf, 5), "hello");
    EXPECT_EQ(io::read(sv[0], buf, sizeof buf), 0);  // end of file ends the hint
    EXPECT_FALSE(internal::read_hint(sv[0]).wait_first());
    ::close(sv[0]);
    ::close(f);
    ::unlink(path.c_str());
  });
}

TEST_F(IoTest, TimeoutFromCancelAfterAroundABlockedRead) {
  picos::testing::run([] {
    int p[2];
    io::pipe(p);
    Computation<ssize_t> c;
    auto t0 = std::chrono::steady_clock::now();
    c.cancel_after(0.05, st::stop());
    Fiber::spawn(Fiber::create(c), [&, c] {
      c.capture([&] {
        char b;
        return io::read(p[0], &b, 1);
      });
    });
    c.wait();
    auto elapsed = std::chrono::steady_clock::now() - t0;
    EXPECT_TRUE(c.is_canceled());
    EXPECT_THROW(c.await(), st::Stop);
    if (!virtual_clock()) {
      EXPECT_GE(elapsed, std::chrono::milliseconds(45));
    }
    // Data in time: the read returns and the timer goes away with the computation.
    Computation<ssize_t> d;
    d.cancel_after(10.0, st::stop());
    io::write_all(p[1], "k", 1);
    Fiber::spawn(Fiber::create(d), [&, d] {
      d.capture([&] {
        char b;
        return io::read(p[0], &b, 1);
      });
    });
    EXPECT_EQ(d.await(), 1);
    io::close(p[0]);
    io::close(p[1]);
  });
}

TEST_F(IoTest, TerminateAfterComposesWithRead) {
  picos::testing::run([] {
    using structured::Control;
    int p[2];
    io::pipe(p);
    // A silent pipe: the deadline cancels the blocked read with Terminate.
    bool terminated = false;
    auto t0 = std::chrono::steady_clock::now();
    try {
      char b;
      (void)Control::terminate_after(std::chrono::milliseconds(50),
                                     [&] { return io::read(p[0], &b, 1); });
    } catch (const structured::Terminate&) {
      terminated = true;
    }
    auto elapsed = std::chrono::steady_clock::now() - t0;
    EXPECT_TRUE(terminated);
    EXPECT_LT(elapsed, std::chrono::seconds(5));
    if (!virtual_clock()) {
      EXPECT_GE(elapsed, std::chrono::milliseconds(45));
    }
    // The fiber is not canceled afterwards, the pipe stays usable, and data in time beats a
    // long deadline (whose timer goes away when the read returns).
    io::write_all(p[1], "k", 1);
    char b = 0;
    EXPECT_EQ(
        Control::terminate_after(std::chrono::seconds(10), [&] { return io::read(p[0], &b, 1); }),
        1);
    EXPECT_EQ(b, 'k');
    io::close(p[0]);
    io::close(p[1]);
  });
}

TEST_F(IoTest, WaitForAChildProcess) {
  picos::testing::run([] {
    pid_t quick = ::fork();
    ASSERT_GE(quick, 0);
    if (quick == 0) ::_exit(7);
    pid_t slow = ::fork();
    ASSERT_GE(slow, 0);
    if (slow == 0) {
      ::usleep(50000);
      ::_exit(3);
    }
    int st_slow = io::wait_child(slow);
    EXPECT_TRUE(WIFEXITED(st_slow));
    EXPECT_EQ(WEXITSTATUS(st_slow), 3);
    int st = io::wait_child(quick);
    EXPECT_TRUE(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 7);
    EXPECT_NE(error_of([&] { (void)io::wait_child(quick); }), 0);  // already reaped
  });
}

}  // namespace
}  // namespace picos::io
