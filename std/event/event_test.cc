// Copyright 2026 The Picos for C++ Authors.
//
// picos::event on every scheduler of the conformance matrix: the spec's Event cases, the
// combinators, selects over many channel operations under contention (every value accounted
// for exactly once), timeouts, and cancelation injected before, during and racing a select.

#include "std/event/event.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/event/sync_events.h"
#include "std/sync/channel.h"
#include "std/sync/ivar.h"
#include "std/sync/latch.h"
#include "std/sync/stream.h"
#include "std/sync/sync_testing.h"

namespace picos::event {
namespace {

using sync::Channel;
using sync::testing::fibers;
using sync::testing::fork;
using sync::testing::spawn_victim;
using sync::testing::Stop;
using sync::testing::stop;
using namespace std::chrono_literals;

struct Exit : std::runtime_error {
  Exit() : std::runtime_error("Exit") {}
};
struct NotFound : std::runtime_error {
  NotFound() : std::runtime_error("Not_found") {}
};

// ---- the spec's Event/basics ----------------------------------------------------------

TEST(EventTest, SpecBasics) {
  picos::testing::run([] {
    Computation<int> never_c;
    EXPECT_EQ(select({from_computation(never_c), map(always(51), [](int x) { return x + 50; })}),
              101);

    Computation<int> c;
    c.cancel_after(0.1, std::make_exception_ptr(NotFound()));
    EXPECT_THROW(sync(from_computation(c)), NotFound);

    auto raising = guard([]() -> Event<int> { throw Exit(); });
    EXPECT_THROW(sync(choose({raising, always(42)})), Exit);
  });
}

// ---- combinators -----------------------------------------------------------------------

TEST(EventTest, Combinators) {
  picos::testing::run([] {
    EXPECT_EQ(sync(always(7)), 7);
    sync(always());
    // The first listed ready alternative wins.
    EXPECT_EQ(select({always(1), always(2)}), 1);
    EXPECT_EQ(sync(choose({never<int>(), always(3)})), 3);
    // map/wrap chains, void events.
    EXPECT_EQ(sync(wrap(map(always(2), [](int x) { return x * 10; }), [](int x) { return x + 1; })),
              21);
    EXPECT_EQ(sync(map(always(), [] { return 5; })), 5);
    // A map function's exception propagates (after the commit).
    EXPECT_THROW(sync(map(always(1), [](int) -> int { throw Exit(); })), Exit);
    // guard runs at each sync, not when the event is built.
    int calls = 0;
    auto g = guard([&calls] {
      ++calls;
      return always(calls);
    });
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(sync(g), 1);
    EXPECT_EQ(sync(g), 2);
    // from_computation of a computation completed later by another fiber.
    Computation<int> c;
    auto f = fork([c] {
      Fiber::yield();
      c.return_value(9);
    });
    EXPECT_EQ(select({from_computation(c), never<int>()}), 9);
    f.await();
    Computation<void> v;
    v.finish();
    sync(from_computation(v));
    // A losing from_computation does not cancel its computation.
    Computation<int> other;
    EXPECT_EQ(select({from_computation(other), always(4)}), 4);
    EXPECT_TRUE(other.is_running());
  });
}

TEST(EventTest, SyncEvents) {
  picos::testing::run([] {
    sync::Ivar<int> iv;
    auto r = fork([iv] { EXPECT_EQ(sync(read_evt(iv)), 5); });
    iv.fill(5);
    r.await();
    sync::Ivar<int> poisoned;
    poisoned.poison(std::make_exception_ptr(Exit()));
    EXPECT_THROW(sync(read_evt(poisoned)), Exit);

    sync::Latch latch(2);
    auto w = fork([&latch] { sync(wait_evt(latch)); });
    latch.count_down();
    Fiber::yield();
    latch.count_down();
    w.await();
    sync(wait_evt(latch));  // already zero
    // A latch alternative that loses is withdrawn (its helper leaves the latch).
    sync::Latch never_latch(1);
    EXPECT_EQ(select({map(wait_evt(never_latch), [] { return 0; }), always(8)}), 8);
    Channel<int> ch(1);
    auto x = fork([&] { ch.send(3); });
    EXPECT_EQ(select({map(wait_evt(never_latch), [] { return 0; }),
                      map(receive_evt(ch), [](std::optional<int> v) { return *v; })}),
              3);
    x.await();

    sync::Stream<int> s;
    auto cur = s.tap();
    auto rd = fork([cur] {
      auto [v, next] = sync(read_evt<int>(cur));
      EXPECT_EQ(v, 1);
      auto [v2, next2] = sync(read_evt<int>(next));
      EXPECT_EQ(v2, 2);
    });
    s.push(1);
    s.push(2);
    rd.await();
    EXPECT_EQ(sync(read_evt<int>(cur)).first, 1);  // not consumed
  });
}

TEST(EventTest, ChannelEventsBasics) {
  picos::testing::run([] {
    Channel<int> a(0), b(2);
    // Buffered value ready.
    b.send(1);
    EXPECT_EQ(sync(receive_evt(b)), std::optional<int>(1));
    // Send into room.
    sync(send_evt(b, 2));
    EXPECT_EQ(b.size(), 1u);
    // Rendezvous between a select sender and a plain receiver, and the other way round.
    auto rx = fork([&] { EXPECT_EQ(a.receive(), std::optional<int>(10)); });
    sync(send_evt(a, 10));
    rx.await();
    auto tx = fork([&] { a.send(11); });
    EXPECT_EQ(sync(receive_evt(a)), std::optional<int>(11));
    tx.await();
    // Select against select on a rendezvous channel (committed together in one Tx).
    auto sx = fork([&] {
      EXPECT_EQ(select({map(send_evt(a, 12), [] { return 1; }), never<int>()}), 1);
    });
    EXPECT_EQ(select({receive_evt(a), never<std::optional<int>>()}), std::optional<int>(12));
    sx.await();
    // A select offering both sides of one channel never matches itself.
    Channel<int> c(0);
    auto both = fork([&] {
      select({map(send_evt(c, 1), [] { return 0; }),
              map(receive_evt(c), [](std::optional<int> v) { return *v; })});
    });
    while (c.waiting_receivers() + c.waiting_senders() < 2) Fiber::yield();
    EXPECT_EQ(c.receive(), std::optional<int>(1));
    both.await();
    EXPECT_EQ(c.waiting_receivers(), 0u);
    // Closed: receive commits with nullopt; send throws ChannelClosed.
    b.receive();
    b.close();
    EXPECT_EQ(sync(receive_evt(b)), std::nullopt);
    EXPECT_THROW(sync(send_evt(b, 3)), sync::ChannelClosed);
  });
}

TEST(EventTest, TimeoutAlternative) {
  picos::testing::run([] {
    Channel<int> c(0);
    int r = select({map(receive_evt(c), [](std::optional<int> v) { return *v; }),
                    map(after(0.01), [] { return -1; })});
    EXPECT_EQ(r, -1);
    EXPECT_EQ(c.waiting_receivers(), 0u);  // the losing receive was withdrawn
    EXPECT_EQ(c.try_send(1), sync::SendStatus::kFull);
    // A ready alternative beats a long timeout (and its timer is removed).
    Channel<int> d(1);
    d.send(5);
    r = select({map(after(3600.0), [] { return -1; }),
                map(receive_evt(d), [](std::optional<int> v) { return *v; })});
    EXPECT_EQ(r, 5);
    EXPECT_THROW(after(-1.0), std::invalid_argument);
  });
}

// A delay of another duration type too long for nanoseconds saturates to nanoseconds::max():
// the event never becomes ready (the implicit conversion used to overflow: seconds::max()
// arrived negative and was rejected). Negative delays are still rejected.
TEST(EventTest, AfterSaturatesLongDelays) {
  picos::testing::run([] {
    int r = select({map(after(std::chrono::seconds::max()), [] { return 1; }),
                    map(after(std::chrono::hours(24 * 365 * 300)), [] { return 2; }),
                    map(after(5ms), [] { return 3; })});
    EXPECT_EQ(r, 3);
    auto expect_invalid = [](auto delay, const std::string& message) {
      try {
        after(delay);
        ADD_FAILURE() << "no exception; expected: " << message;
      } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::string(e.what()), message);
      }
    };
    expect_invalid(-1s, "picos::event::after: delay must be non-negative (got -1000000000 ns)");
    expect_invalid(-5ns, "picos::event::after: delay must be non-negative (got -5 ns)");
    EXPECT_THROW(after(-1.0), std::invalid_argument);
  });
}

// ---- many channel operations under contention ------------------------------------------

// 8 channels; each selector selects among receives on 4 of them and sends on the other 4;
// a plain producer and a plain consumer per channel. Every value delivered (a send that
// returned, a select that committed a send) is received exactly once (by a plain receive or
// a select that committed a receive): a select committing two alternatives, or committing
// one and losing the value of another, breaks the tally.
TEST(EventTest, SelectAmongManyChannelOpsCommitsExactlyOne) {
  picos::testing::run([] {
    constexpr int kChannels = 8;
    const int selectors = fibers(6);
    const int selects = picos::testing::scaled(300);
    const int per_producer = picos::testing::scaled(200);
    std::vector<std::unique_ptr<Channel<long>>> ch;
    for (int i = 0; i < kChannels; ++i)
      ch.push_back(std::make_unique<Channel<long>>(i % 3 == 0 ? 2 : 0));
    std::mutex m;
    std::vector<long> sent, received;
    auto record = [&](std::vector<long>& into, const std::vector<long>& mine) {
      std::lock_guard<std::mutex> g(m);
      into.insert(into.end(), mine.begin(), mine.end());
    };
    std::vector<Computation<void>> sels, others;
    for (int s = 0; s < selectors; ++s) {
      sels.push_back(fork([&, s] {
        std::vector<long> my_sent, my_received;
        long next = (1000L + s) * 1000000L;
        for (int k = 0; k < selects; ++k) {
          std::vector<Event<std::optional<long>>> alts;
          for (int j = 0; j < 4; ++j) alts.push_back(receive_evt(*ch[(s + j) % kChannels]));
          for (int j = 4; j < 8; ++j) {
            long v = next + j;
            alts.push_back(map(send_evt(*ch[(s + j) % kChannels], v),
                               [v] { return std::optional<long>(-v); }));
          }
          std::optional<long> r = select(alts);
          ASSERT_TRUE(r.has_value());
          if (*r < 0) {
            my_sent.push_back(-*r);
          } else {
            my_received.push_back(*r);
          }
          next += 8;
        }
        record(sent, my_sent);
        record(received, my_received);
      }));
    }
    for (int i = 0; i < kChannels; ++i) {
      others.push_back(fork([&, i] {
        std::vector<long> my_sent;
        for (int k = 0; k < per_producer; ++k) {
          long v = (i + 1L) * 1000000L + k;
          try {
            ch[i]->send(v);
          } catch (const sync::ChannelClosed&) {
            break;  // not delivered
          }
          my_sent.push_back(v);
        }
        record(sent, my_sent);
      }));
      others.push_back(fork([&, i] {
        std::vector<long> my_received;
        while (auto v = ch[i]->receive()) my_received.push_back(*v);
        record(received, my_received);
      }));
    }
    for (auto& c : sels) c.await();
    for (auto& c : ch) c->close();
    for (auto& c : others) c.await();
    std::sort(sent.begin(), sent.end());
    std::sort(received.begin(), received.end());
    EXPECT_EQ(std::adjacent_find(sent.begin(), sent.end()), sent.end());
    EXPECT_EQ(sent.size(), received.size());
    EXPECT_TRUE(sent == received);
  });
}

// ---- cancelation -----------------------------------------------------------------------

TEST(EventTest, CanceledBeforeSyncCommitsNothing) {
  picos::testing::run([] {
    Channel<int> c(1);
    c.send(1);
    bool threw = false;
    auto v = spawn_victim([&] {
      Fiber::current().get_computation().cancel(stop());
      try {
        select({receive_evt(c), map(always(), [] { return std::optional<int>(); })});
      } catch (const Stop&) {
        threw = true;
      }
    });
    v.done.await();
    EXPECT_TRUE(threw);
    EXPECT_EQ(c.size(), 1u);  // nothing consumed
  });
}

TEST(EventTest, CanceledWhileSuspendedCommitsNothing) {
  picos::testing::run([] {
    Channel<int> in(0), out(0);
    sync::Ivar<int> iv;
    bool threw = false;
    auto v = spawn_victim([&] {
      try {
        select({map(receive_evt(in), [](std::optional<int>) { return 0; }),
                map(send_evt(out, 1), [] { return 0; }), read_evt(iv),
                map(after(3600.0), [] { return 0; })});
      } catch (const Stop&) {
        threw = true;
      }
    });
    while (in.waiting_receivers() == 0 || out.waiting_senders() == 0) Fiber::yield();
    v.c.cancel(stop());
    v.done.await();
    EXPECT_TRUE(threw);
    EXPECT_EQ(in.waiting_receivers(), 0u);
    EXPECT_EQ(out.waiting_senders(), 0u);
    EXPECT_EQ(in.try_send(1), sync::SendStatus::kFull);  // nobody receives
    EXPECT_EQ(out.try_receive(), std::nullopt);          // nothing was delivered
  });
}

// A sender fiber, a canceler and a selecting victim race; whatever the interleaving, a value
// is received iff its send returned, and a canceled select received nothing.
TEST(EventTest, CancelationRacingACommitLosesNothing) {
  picos::testing::run([] {
    std::mt19937 rng(42);
    const int rounds = picos::testing::scaled(300);
    int delivered = 0, received = 0, canceled = 0;
    for (int round = 0; round < rounds; ++round) {
      Channel<int> c(round % 2), d(0);
      int got = -1;
      bool threw = false;
      auto v = spawn_victim([&] {
        try {
          got = *select({receive_evt(d), receive_evt(c)});
        } catch (const Stop&) {
          threw = true;
        }
      });
      bool sent = false;
      const int sender_yields = static_cast<int>(rng() % 4);
      const int cancel_yields = static_cast<int>(rng() % 4);
      auto s = fork([&] {
        for (int i = 0; i < sender_yields; ++i) Fiber::yield();
        try {
          c.send(round);
          sent = true;
        } catch (const sync::ChannelClosed&) {
        }
      });
      auto k = fork([&, v] {
        for (int i = 0; i < cancel_yields; ++i) Fiber::yield();
        v.c.cancel(stop());
      });
      k.await();
      v.done.await();
      c.close();
      s.await();
      std::optional<int> left = c.try_receive();  // buffered but never received
      if (sent) ++delivered;
      if (got >= 0) ++received;
      if (threw) ++canceled;
      EXPECT_NE(threw, got >= 0);
      if (sent) {
        EXPECT_TRUE(got == round || left == round) << "round " << round;
      } else {
        EXPECT_EQ(got, -1);
      }
      EXPECT_FALSE(got == round && left.has_value());
    }
    // received + canceled == rounds and received <= delivered follow from the per-round
    // checks. What they cannot show is that the race was run: both outcomes must occur. At
    // full size every configuration measured at least 46 cancelations and 116 receptions in
    // 300 rounds; TSan's 30 rounds on thread or nosched sometimes cancel none, so no check there.
    if (!picos::testing::kThreadSanitizer) {
      EXPECT_GT(received, 0) << "delivered " << delivered << ", canceled " << canceled;
      EXPECT_GT(canceled, 0) << "delivered " << delivered << ", received " << received;
    }
  });
}

// Several selects race each other for the same values while being canceled at random: the
// values received by committed selects and the ones left in the channel are exactly the
// values sent.
TEST(EventTest, CanceledSelectsUnderContentionLoseNothing) {
  picos::testing::run([] {
    const int n = fibers(8);
    const int values = picos::testing::scaled(400);
    Channel<int> c(3), d(0);
    std::mutex m;
    std::vector<int> got;
    std::atomic<bool> stop{false};
    std::vector<sync::testing::Victim> victims;
    for (int i = 0; i < n; ++i) {
      victims.push_back(spawn_victim([&] {
        std::vector<int> mine;
        try {
          while (!stop.load()) {
            auto r = select({receive_evt(c), receive_evt(d)});
            if (!r) break;
            mine.push_back(*r);
          }
        } catch (const Stop&) {
        }
        std::lock_guard<std::mutex> g(m);
        got.insert(got.end(), mine.begin(), mine.end());
      }));
    }
    for (int k = 0; k < values; ++k) {
      if (k % 2) {
        c.send(k);
      } else {
        d.send(k);
      }
      // Never the last victim: it keeps receiving, so the sends complete.
      if (k % 37 == 0) victims[(k / 37) % (n - 1)].c.cancel(sync::testing::stop());
    }
    stop = true;
    c.close();
    d.close();
    for (auto& v : victims) v.done.await();
    while (auto x = c.try_receive()) got.push_back(*x);
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got.size(), static_cast<std::size_t>(values));
    for (int k = 0; k < values; ++k) EXPECT_EQ(got[k], k);
  });
}

}  // namespace
}  // namespace picos::event
