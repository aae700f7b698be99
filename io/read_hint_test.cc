// Copyright 2026 The Picos for C++ Authors.
//
// The read hint's transitions (io/read_hint.h) and its table. The reads themselves, on every
// scheduler and reactor, are in io_test.cc (ReadHint*).

#include "io/read_hint.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace picos::io::internal {
namespace {

// A read that waited for its data, as a descriptor in request-response use sees it.
ReadHint short_read_after_wait(ReadHint h, bool first_call_blocked = true) {
  return h.after(/*waited_first=*/false, first_call_blocked, /*waited=*/true, 10);
}

TEST(ReadHintTest, ANewDescriptorMakesTheCallFirst) {
  EXPECT_FALSE(ReadHint().wait_first());
  EXPECT_FALSE(ReadHint().marked());
}

TEST(ReadHintTest, WaitsFirstOnceShortReadsWereFollowedByCallsThatBlocked) {
  ReadHint h = short_read_after_wait(ReadHint(), /*first_call_blocked=*/false);
  EXPECT_TRUE(h.marked());
  EXPECT_EQ(h.confidence(), 0);  // the first mark has not been put to the test yet
  EXPECT_FALSE(h.wait_first());
  for (int i = 1; i < ReadHint::kConfident; ++i) {
    h = short_read_after_wait(h);
    EXPECT_EQ(h.confidence(), i);
    EXPECT_FALSE(h.wait_first());
  }
  h = short_read_after_wait(h);
  EXPECT_EQ(h.confidence(), ReadHint::kConfident);
  EXPECT_TRUE(h.wait_first());
}

ReadHint confident() {
  ReadHint h;
  for (int i = 0; i <= ReadHint::kConfident; ++i) h = short_read_after_wait(h);
  return h;
}

TEST(ReadHintTest, EveryEighthReadMakesTheCallFirstToCheck) {
  ReadHint h = confident();
  int waited_first = 0;
  while (h.wait_first()) {
    h = h.after(/*waited_first=*/true, false, /*waited=*/true, 10);
    ++waited_first;
  }
  EXPECT_EQ(waited_first, ReadHint::kVerifyEvery - 1);
  EXPECT_TRUE(h.marked());
  // The check blocks: the hint was right; the descriptor waits first again.
  h = short_read_after_wait(h, /*first_call_blocked=*/true);
  EXPECT_TRUE(h.wait_first());
  EXPECT_EQ(h.waits_since_check(), 0);
}

TEST(ReadHintTest, ACheckThatFindsDataLosesTheConfidence) {
  ReadHint h = confident();
  for (int i = 0; i < ReadHint::kVerifyEvery - 1; ++i) {
    h = h.after(/*waited_first=*/true, false, /*waited=*/true, 10);
  }
  ASSERT_FALSE(h.wait_first());
  // Data was there (a pipelining peer, a datagram queue): no wait, short count.
  h = h.after(/*waited_first=*/false, /*first_call_blocked=*/false, /*waited=*/false, 10);
  EXPECT_EQ(h.confidence(), 0);
  EXPECT_FALSE(h.marked());  // not waited for: says nothing of what is left
  EXPECT_FALSE(h.wait_first());
}

TEST(ReadHintTest, EndOfFileOrAReadThatDidNotWaitClearsTheMark) {
  EXPECT_FALSE(confident().after(true, false, true, 0).marked());     // end of file
  EXPECT_FALSE(confident().after(false, false, false, 64).marked());  // data was there
  EXPECT_TRUE(confident().after(true, false, true, 64).marked());
}

TEST(ReadHintTest, ConfidenceSaturates) {
  ReadHint h;
  for (int i = 0; i < 100; ++i) h = short_read_after_wait(h);
  EXPECT_EQ(h.confidence(), ReadHint::kMaxConfidence);
  EXPECT_TRUE(h.wait_first());
}

// A short read says the descriptor was emptied, but only a stream's short read means it
// (FdInterest::drained): the kind, asked once, is kept through the transitions.
TEST(ReadHintTest, AShortReadOfAStreamMarksItKnownEmpty) {
  ReadHint h = confident().after(true, false, true, 10, /*short_read=*/true);
  EXPECT_TRUE(h.emptied());
  EXPECT_FALSE(h.kind_known());
  EXPECT_FALSE(h.known_empty());  // the kind is not known yet
  const ReadHint datagram = h.with_kind(false);
  EXPECT_TRUE(datagram.kind_known());
  EXPECT_FALSE(datagram.known_empty());
  h = h.with_kind(true);
  EXPECT_TRUE(h.known_empty());
  EXPECT_EQ(h.confidence(), confident().confidence());  // nothing else changed
  // A full read (or end of file) may have left data: not empty, kind kept.
  ReadHint full = h.after(true, false, true, 64, /*short_read=*/false);
  EXPECT_FALSE(full.emptied());
  EXPECT_TRUE(full.kind_known());
  EXPECT_TRUE(full.stream());
  EXPECT_FALSE(h.after(true, false, true, 0, /*short_read=*/true).emptied());
  EXPECT_TRUE(full.after(true, false, true, 5, /*short_read=*/true).known_empty());
}

TEST(ReadHintTest, StreamsArePipesAndStreamSocketsOnly) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  EXPECT_TRUE(is_stream(p[0]));
  ::close(p[0]);
  ::close(p[1]);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  EXPECT_TRUE(is_stream(sv[0]));
  ::close(sv[0]);
  ::close(sv[1]);
  for (int type : {SOCK_DGRAM, SOCK_SEQPACKET}) {  // one message per read: short says nothing
    ASSERT_EQ(::socketpair(AF_UNIX, type, 0, sv), 0);
    EXPECT_FALSE(is_stream(sv[0])) << type;
    ::close(sv[0]);
    ::close(sv[1]);
  }
  const int efd = ::eventfd(0, 0);
  ASSERT_GE(efd, 0);
  EXPECT_FALSE(is_stream(efd));
  ::close(efd);
  EXPECT_FALSE(is_stream(-1));
}

TEST(ReadHintTest, TheTableKeepsAHintPerDescriptorUntilCleared) {
  const ReadHint h = confident();
  set_read_hint(7, h);
  set_read_hint(4096 * 3 + 1, h);  // another chunk
  EXPECT_EQ(read_hint(7).bits(), h.bits());
  EXPECT_EQ(read_hint(4096 * 3 + 1).bits(), h.bits());
  EXPECT_EQ(read_hint(8).bits(), 0);
  clear_read_hint(7);
  EXPECT_EQ(read_hint(7).bits(), 0);
  EXPECT_EQ(read_hint(4096 * 3 + 1).bits(), h.bits());
  // Out of the table's range: no hint, never a crash.
  set_read_hint(-1, h);
  set_read_hint(1 << 24, h);
  EXPECT_EQ(read_hint(-1).bits(), 0);
  EXPECT_EQ(read_hint(1 << 24).bits(), 0);
  clear_read_hint(1 << 30);
}

}  // namespace
}  // namespace picos::io::internal
