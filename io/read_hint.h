// Copyright 2026 The Picos for C++ Authors.
//
// io/read_hint.h — whether a read on a descriptor should wait for data before it makes the
// call: what io::read, io::recv and io::read_full learn per descriptor (internal to //io).
//
// A fiber that serves a connection reads until the call would block, then waits: in a
// request-response exchange every other read fails with EAGAIN (a system call for nothing),
// and on io_uring the wait that follows is itself a call the kernel could have made at once
// (Reactor::start_operation). A plain epoll loop never makes that read: it reads when the
// descriptor is ready. The hint lets a fiber skip it too when the descriptor's recent reads
// say the call would block:
//  - A read that had to wait for its data (and got some) marks the descriptor `waited`.
//  - The next read of a marked descriptor makes the call and sees whether the mark foretold
//    a wait: EAGAIN raises the descriptor's confidence (up to 15), data resets it to 0.
//  - Once the confidence is at least kConfident, reads of a marked descriptor wait first
//    (readiness, or the reactor's completion-based call) and make the call afterwards; every
//    kVerifyEvery-th one still makes the call first, so a descriptor whose pattern changed
//    (a bulk transfer, a peer that pipelines, a datagram queue that fills) loses its
//    confidence within that many reads.
//
// The hint also tells the reactor when a wait-first read's descriptor is known to be empty
// (FdInterest::drained, picos/reactor.h: an edge-watching reactor then makes no system call
// for the wait): the previous read came back short (fewer bytes than asked: it took
// everything there) on a stream socket or a pipe, where that is what a short read means. The
// descriptor's kind is asked once (getsockopt SO_TYPE, else fstat) and kept with the hint.
// A datagram socket, a terminal or anything else counts as never known empty.
//
// A wrong hint costs time, never data or correctness: the wait it makes returns at once
// (readiness is level-checked when a wait is registered; a completion-based read completes
// with the data there), and the call follows. The hint is per descriptor number:
// io::forget (and so io::close) clears it; after a plain ::close and reuse of the number the
// stale hint at worst costs one wait, or, where the new descriptor cannot be waited on (a
// regular file: the reactor refuses it), nothing, as the read then makes the call as usual.
//
// A wrong "empty" (two fibers reading one descriptor, a kind that changed with a plain
// ::close and reuse) costs the reactor's level check of a drained wait: 10-20 ms late.
//
// State: two bytes per descriptor in a process-wide table of chunks of 4,096 (allocated
// when a descriptor in that range is first marked; descriptors at or above 2^24 get no
// hint). Any thread; races between readers of one descriptor only cost a wrong guess.

#ifndef PICOS_IO_READ_HINT_H_
#define PICOS_IO_READ_HINT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "picos/internal/fd_table.h"

namespace picos::io::internal {

// The state of one descriptor and its transitions (pure: the table below stores it).
class ReadHint {
 public:
  static constexpr int kConfident = 2;    // confidence from which reads may wait first
  static constexpr int kVerifyEvery = 8;  // every 8th read of a confident descriptor checks
  static constexpr int kMaxConfidence = 15;

  constexpr ReadHint() noexcept = default;
  constexpr explicit ReadHint(std::uint16_t bits) noexcept : bits_(bits) {}
  constexpr std::uint16_t bits() const noexcept { return bits_; }

  constexpr bool marked() const noexcept { return (bits_ & kMarked) != 0; }
  constexpr int confidence() const noexcept { return bits_ & kConfidenceMask; }
  constexpr int waits_since_check() const noexcept { return (bits_ & kWaitsMask) >> 4; }

  // Whether the next read should wait before it makes the call.
  constexpr bool wait_first() const noexcept {
    return marked() && confidence() >= kConfident && waits_since_check() < kVerifyEvery - 1;
  }

  // Whether the last read came back short (0 < n < what it asked, not a peek): on a stream,
  // the descriptor was empty then.
  constexpr bool emptied() const noexcept { return (bits_ & kEmptied) != 0; }
  // Whether the descriptor's kind was asked, and whether it is a stream socket or a pipe.
  constexpr bool kind_known() const noexcept { return (bits_ & kKindKnown) != 0; }
  constexpr bool stream() const noexcept { return (bits_ & kStream) != 0; }
  constexpr ReadHint with_kind(bool is_stream) const noexcept {
    return ReadHint(
        static_cast<std::uint16_t>((bits_ & ~kStream) | kKindKnown | (is_stream ? kStream : 0)));
  }
  // Whether a wait-first read may tell the reactor the descriptor is empty (see the top).
  constexpr bool known_empty() const noexcept { return emptied() && stream(); }

  // What one read saw: whether it waited first on this hint (`waited_first`), else whether
  // its first call would have blocked (`first_call_blocked`); whether it waited at all
  // before its result (`waited`); its result `n` (bytes, >= 0); whether that was short of
  // what it asked for (`short_read`, not a peek). Returns the state for the next read (the
  // kind is kept).
  constexpr ReadHint after(bool waited_first, bool first_call_blocked, bool waited, std::size_t n,
                           bool short_read = false) const noexcept {
    int confidence = this->confidence();
    int waits = waits_since_check();
    if (waited_first) {
      ++waits;
    } else {
      waits = 0;
      if (marked()) {  // the mark was put to the test
        confidence =
            first_call_blocked ? (confidence < kMaxConfidence ? confidence + 1 : confidence) : 0;
      }
    }
    const bool mark = waited && n > 0;
    return ReadHint(static_cast<std::uint16_t>((bits_ & (kKindKnown | kStream)) |
                                               (short_read && n > 0 ? kEmptied : 0) |
                                               (mark ? kMarked : 0) | (waits << 4) | confidence));
  }

 private:
  static constexpr std::uint16_t kStream = 0x400;
  static constexpr std::uint16_t kKindKnown = 0x200;
  static constexpr std::uint16_t kEmptied = 0x100;
  static constexpr std::uint16_t kMarked = 0x80;
  static constexpr std::uint16_t kWaitsMask = 0x70;
  static constexpr std::uint16_t kConfidenceMask = 0x0f;
  std::uint16_t bits_ = 0;
};

// The process-wide table (see above; picos/internal/fd_table.h). Never throws; a chunk that
// cannot be allocated means no hint for its descriptors.
using ReadHintTable = picos::internal::FdTable<std::uint16_t>;
using ReadHintCell = ReadHintTable::Cell;
extern ReadHintTable read_hint_table;

// The cell of `fd`, or null where no hint was ever stored in its chunk (or `fd` is out of
// range): a read looks it up once, loads its hint and stores the next through it.
inline ReadHintCell* read_hint_cell(int fd) noexcept { return read_hint_table.find(fd); }
inline ReadHint read_hint(int fd) noexcept {
  ReadHintCell* c = read_hint_cell(fd);
  return c == nullptr ? ReadHint() : ReadHint(c->load(std::memory_order_relaxed));
}
// Asks the kernel whether `fd` is a stream socket or a pipe (a FIFO): one system call, two
// for a descriptor that is not a socket. False when it cannot tell.
bool is_stream(int fd) noexcept;
// Stores `hint` for `fd`, allocating its chunk first if needed (not for an empty hint).
void set_read_hint(int fd, ReadHint hint) noexcept;
// io::forget: the number may be reused by another descriptor.
void clear_read_hint(int fd) noexcept;

}  // namespace picos::io::internal

#endif  // PICOS_IO_READ_HINT_H_
