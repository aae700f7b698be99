// Copyright 2026 The Picos for C++ Authors.
//
// The usual operations of //std and //io call no malloc once warmed up: their small objects
// (triggers, computations, scope states, event alternatives, stream cells, wake-up lists,
// fiber-local slots) come from the per-thread caches of picos/internal/thread_cache.h or
// live inline. Each case runs on fifo (one thread) a few hundred rounds to fill the caches,
// slabs and pools, then 1,000 rounds while this binary's operator new counts the calls made
// on this thread; the count must be 0. A malloc that comes back on one of these paths (~130
// to 250 instructions a pair) fails here, not only in a benchmark's figures.
//
// On fifo alone (its matrix row): the binary replaces the global operator new, and the
// count is per thread. Under AddressSanitizer the caches are off (every object
// goes to malloc, so that ASan sees its lifetime), and under ThreadSanitizer its own operator
// new is the one called: the cases are skipped in both (TheCountSeesEveryOperatorNew shows
// the count works where they run).

#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <optional>

#include "gtest/gtest.h"
#include "io/fd_event.h"
#include "io/io.h"
#include "mux/testing/testing.h"
#include "picos/internal/thread_cache.h"
#include "picos/picos.h"
#include "std/event/event.h"
#include "std/event/sync_events.h"
#include "std/structured/bundle.h"
#include "std/sync/channel.h"
#include "std/sync/condition.h"
#include "std/sync/ivar.h"
#include "std/sync/lazy.h"
#include "std/sync/mutex.h"
#include "std/sync/stream.h"

namespace {
thread_local bool t_counting = false;
thread_local std::int64_t t_news = 0;

void* counted(std::size_t n) {
  if (t_counting) ++t_news;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* counted_aligned(std::size_t n, std::align_val_t a) {
  if (t_counting) ++t_news;
  const auto align = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(align, (n + align - 1) / align * align)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return counted(n); }
void* operator new[](std::size_t n) { return counted(n); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_aligned(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_aligned(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace picos {
namespace {

namespace ev = picos::event;
namespace st = picos::structured;
namespace sy = picos::sync;

// Runs `round` on the scheduler (fifo): 300 rounds to warm up, then 1,000 counted; returns the
// operator new calls of the counted ones (on this thread, the scheduler's only one).
template <typename F>
std::int64_t news_in_steady_state(F round) {
  std::int64_t news = -1;
  testing::run([&] {
    for (int i = 0; i < 300; ++i) round();
    t_news = 0;
    t_counting = true;
    for (int i = 0; i < 1000; ++i) round();
    t_counting = false;
    news = t_news;
  });
  return news;
}

class SteadyStateAllocTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if !PICOS_INTERNAL_THREAD_CACHE
    GTEST_SKIP() << "the per-thread caches are off under AddressSanitizer";
#elif defined(__SANITIZE_THREAD__)
    // The cases are linked into a shared library (fastbuild), and libtsan.so, loaded first,
    // defines operator new too: its definition wins, this file's never counts, and every
    // case would pass with 0 (TheCountSeesEveryOperatorNew failed there).
    GTEST_SKIP() << "ThreadSanitizer's operator new takes the place of the counting one";
#endif
  }
};

// The count sees what it must: without this, a replacement that is not the one called (as
// under ThreadSanitizer, see SetUp) or that counts on another thread would let every case
// below pass with 0.
TEST_F(SteadyStateAllocTest, TheCountSeesEveryOperatorNew) {
  static void* volatile sink = nullptr;  // volatile: the call cannot be left out
  EXPECT_EQ(news_in_steady_state([] {
              sink = ::operator new(16);
              ::operator delete(sink);
              sink = new long[4];
              delete[] static_cast<long*>(sink);
            }),
            2000);
}

TEST_F(SteadyStateAllocTest, SpawnAndJoin) {
  EXPECT_EQ(news_in_steady_state([] {
              Computation<void> c;
              Fiber::spawn(Fiber::create(c), [c] { (void)c.try_return(); });
              c.await();
            }),
            0);
}

// Closures past the record's 64 bytes, up to 256, go to a cached block.
TEST_F(SteadyStateAllocTest, SpawnsWithLargerClosures) {
  EXPECT_EQ(
      news_in_steady_state([] {
        std::array<long, 20> big{};  // 160 bytes captured
        big[19] = 5;
        Computation<long> c;
        Fiber::spawn(Fiber::create(c), [c, big] { (void)c.try_return(big[19]); });
        EXPECT_EQ(c.await(), 5);
        st::Flock::join_after([] {
          long a = 1, b = 2, d = 3, e = 4, f = 5, g = 6, h = 7, i = 8;  // 64 bytes
          st::Flock::fork([a, b, d, e, f, g, h, i] { (void)(a + b + d + e + f + g + h + i); });
        });
      }),
      0);
}

TEST_F(SteadyStateAllocTest, ScopesForksAndPromises) {
  EXPECT_EQ(news_in_steady_state([] {
              st::Flock::join_after([] {
                long x = 1;
                st::Flock::fork([x] { (void)x; });
              });
              st::Bundle::join_after([](st::Bundle& b) {
                long x = 1, y = 2, z = 3;  // 24 bytes: within the record's inline room
                EXPECT_EQ(b.fork_as_promise([x, y, z] { return x + y + z; }).await(), 6);
              });
            }),
            0);
}

TEST_F(SteadyStateAllocTest, ChannelPingPongAndClose) {
  EXPECT_EQ(news_in_steady_state([] {
              sy::Channel<int> ping(0), pong(0);
              Computation<void> other;
              Fiber::spawn(Fiber::create(other), [&] {
                while (std::optional<int> v = ping.receive()) pong.send(*v + 1);
                (void)other.try_return();
              });
              ping.send(1);
              EXPECT_EQ(pong.receive(), 2);
              ping.close();  // wakes the receiver
              other.await();
            }),
            0);
}

TEST_F(SteadyStateAllocTest, MutexConditionAndIvarWithWaiters) {
  EXPECT_EQ(news_in_steady_state([] {
              sy::Mutex m;
              sy::Condition cv;
              bool go = false;
              sy::Ivar<int> iv;
              std::array<Computation<void>, 5> done;
              for (auto& d : done) {
                Fiber::spawn(Fiber::create(d), [&] {
                  m.lock();
                  while (!go) cv.wait(m);
                  m.unlock();
                  EXPECT_EQ(iv.read(), 7);  // five readers: past the two inline triggers
                  (void)d.try_return();
                });
              }
              Fiber::yield();  // all five wait on the condition
              m.lock();
              go = true;
              cv.broadcast();
              m.unlock();
              Fiber::yield();  // all five wait on the ivar
              iv.fill(7);
              for (auto& d : done) d.await();
            }),
            0);
}

TEST_F(SteadyStateAllocTest, SelectsOverChannelsTimeoutsAndDescriptors) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  sy::Channel<int> ch(1);
  EXPECT_EQ(news_in_steady_state([&] {
              // A ready channel first: the timeout's alternative is made, not armed.
              ch.try_send(1);
              EXPECT_EQ(
                  ev::select({ev::receive_evt(ch),
                              ev::map(ev::after(3600.0), [] { return std::optional<int>(); })}),
                  std::optional<int>(1));
              // A descriptor that is not ready yet: the alternative waits (its commit object),
              // and a fiber makes it ready.
              Computation<void> writer;
              Fiber::spawn(Fiber::create(writer), [&] {
                char b = 'x';
                io::write_all(fds[1], &b, 1);
                (void)writer.try_return();
              });
              ev::sync(ev::choose({io::readable_evt(fds[0]), ev::never<void>()}));
              char b;
              EXPECT_EQ(io::read(fds[0], &b, 1), 1);
              writer.await();
              EXPECT_EQ(ev::sync(ev::always(5)), 5);
            }),
            0);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_F(SteadyStateAllocTest, StreamsAndLazies) {
  sy::Stream<int> s;
  sy::Stream<int>::Cursor c = s.tap();
  EXPECT_EQ(news_in_steady_state([&] {
              s.push(3);
              auto [v, next] = c.read();
              EXPECT_EQ(v, 3);
              c = std::move(next);
              sy::Lazy<int> lazy([] { return 4; });
              EXPECT_EQ(lazy.force(), 4);
            }),
            0);
}

}  // namespace
}  // namespace picos
