// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/stream.h — a multi-writer, multi-reader stream of values read through cursors.
//
// A `Stream<T>` is an append-only sequence. Writers `push` values; readers `tap` the stream
// to get a `Cursor` at its current end and then `read` from the cursor, which waits for the
// next value and returns it together with the cursor after it. Every reader sees every value
// pushed after it tapped, in push order; values are not consumed (a cursor can be read again,
// copied, and handed to other fibers). A stream can be `poison`ed with an exception: readers
// that reach the end then get that exception, and further pushes throw it.
//
// Stream and Cursor are cheap handles (copies refer to the same stream / position). Values
// are shared by all readers, so `read` and `peek` return copies: T must be copyable. T must
// also be nothrow move constructible (a static_assert says so): `push` moves the value into
// its cell after the cell has left the end, where nothing else could complete it, so a move
// that threw there would leave the readers at that position waiting for good.
//
// Behaviour:
//  - `push` never suspends and is not a cancelation point (it works in a canceled fiber); it
//    throws the poison if the stream is poisoned. Concurrent pushes are ordered.
//  - `poison(reason)` never suspends, is not a cancelation point and never throws in a
//    canceled fiber; a null reason throws std::invalid_argument. The first poison wins;
//    later ones do nothing.
//  - `Cursor::read` is a cancelation point only while it has to wait: if the value (or the
//    poison) is already there it returns (rethrows) at once without checking cancelation;
//    otherwise a fiber canceled before or while waiting throws its reason and consumes
//    nothing (the cursor stays valid; reading it again later sees the value).
//  - `Cursor::peek` never suspends and never checks cancelation: std::nullopt while no value
//    is there, the value and next cursor once it is, rethrows the poison.
//  - Memory: a cursor keeps the values after it alive (a slow reader holds the backlog); the
//    stream itself holds only its end. Dropping a long backlog does not recurse.
//
// Any fiber or thread may call any operation.
//
// Implementation: a linked list of cells, each a picos::Computation<T> (returned with the
// value, or canceled with the poison) and a link to the next cell, written before the value
// is published. A spin lock orders pushes: it guards only the end pointer; completing the
// cell (signaling its waiters) happens outside it. A reader waits by awaiting the cell's
// computation, so a cursor can later be used as an event. Cost: a push allocates one cell
// (two small objects, both from the thread's cache, not malloc) and takes the lock once.

#ifndef PICOS_STD_SYNC_STREAM_H_
#define PICOS_STD_SYNC_STREAM_H_

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "picos/computation.h"
#include "picos/internal/spin_lock.h"
#include "picos/internal/thread_cache.h"

namespace picos::sync {

template <typename T>
class Stream {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "picos::sync::Stream<T> needs a nothrow move constructible T (see the top)");
  // Recycled per thread (ThreadCached), as its computation's state is: a push allocates
  // neither from malloc.
  struct Cell : internal::ThreadCached<Cell> {
    std::atomic<std::uint32_t> refs{1};
    Computation<T> value{Mode::kFifo};
    Cell* next = nullptr;  // owns one reference; written before `value` completes

    static Cell* share(Cell* c) noexcept {
      if (c != nullptr) c->refs.fetch_add(1, std::memory_order_relaxed);
      return c;
    }
    // Drops one reference, and the chain after the cell iteratively, not recursively.
    static void release(Cell* c) noexcept {
      while (c != nullptr && c->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        Cell* next = c->next;
        delete c;
        c = next;
      }
    }
  };

 public:
  // A position in the stream: the next value a reader will see.
  class Cursor {
   public:
    Cursor(const Cursor& o) noexcept : c_(Cell::share(o.c_)) {}
    Cursor(Cursor&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}  // `o` is left unusable
    Cursor& operator=(Cursor o) noexcept {
      std::swap(c_, o.c_);
      return *this;
    }
    ~Cursor() { Cell::release(c_); }

    // Waits for the value at this position and returns it with the cursor after it. Throws
    // the poison if the stream was poisoned here, and the fiber's cancelation reason if it
    // is canceled before or while waiting (not when the value is already there).
    std::pair<T, Cursor> read() const {
      const T& v = c_->value.await();
      return {v, Cursor(Cell::share(c_->next))};
    }

    // The value and the next cursor if the value is there, std::nullopt if not yet; rethrows
    // the poison. Never suspends.
    std::optional<std::pair<T, Cursor>> peek() const {
      if (c_->value.is_running()) return std::nullopt;
      const T& v = c_->value.await();  // completed: returns or rethrows at once
      return std::pair<T, Cursor>(v, Cursor(Cell::share(c_->next)));
    }

    // Completes when a value or the poison is at this position (for selecting over waits).
    const PackedComputation& computation() const noexcept { return c_->value; }

    // Identity of the position.
    friend bool operator==(const Cursor& a, const Cursor& b) noexcept { return a.c_ == b.c_; }

   private:
    friend class Stream;
    explicit Cursor(Cell* c) noexcept : c_(c) {}  // adopts a reference
    Cell* c_;
  };

  Stream() : s_(std::make_shared<State>()) {}

  // Appends `value`, waking the readers waiting at the end. Throws the poison if poisoned.
  void push(T value) const {
    Cell* fresh = new Cell;  // the stream's reference, as the new end
    Cell* end;
    {
      internal::SpinLockGuard guard(s_->lock);
      if (s_->poison) {
        std::exception_ptr poison = s_->poison;
        guard.unlock();
        delete fresh;
        std::rethrow_exception(poison);
      }
      end = s_->end;  // we take over the stream's reference to the old end
      end->next = Cell::share(fresh);
      s_->end = fresh;
    }
    // Nobody else completes `end` now: it is no longer the end, and poison only touches the end.
    end->value.return_value(std::move(value));
    Cell::release(end);
  }

  // Poisons the stream: readers reaching the end throw `reason`, and so does `push`. Only the
  // first poison counts. Throws std::invalid_argument if `reason` is null.
  void poison(std::exception_ptr reason) const {
    if (!reason) throw std::invalid_argument("picos::sync::Stream::poison: null reason");
    Cell* end;
    {
      internal::SpinLockGuard guard(s_->lock);
      if (s_->poison) return;
      s_->poison = reason;
      end = Cell::share(s_->end);
    }
    end->value.cancel(std::move(reason));  // no push completes it any more
    Cell::release(end);
  }

  bool is_poisoned() const {
    internal::SpinLockGuard guard(s_->lock);
    return s_->poison != nullptr;
  }

  // A cursor at the current end: it sees only values pushed from now on (or the poison).
  Cursor tap() const {
    internal::SpinLockGuard guard(s_->lock);
    return Cursor(Cell::share(s_->end));
  }

 private:
  struct State {
    internal::SpinLock lock;
    Cell* end ABSL_GUARDED_BY(lock) = new Cell;  // owns one reference
    std::exception_ptr poison ABSL_GUARDED_BY(lock);
    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() { Cell::release(end); }
  };

  std::shared_ptr<State> s_;
};

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_STREAM_H_
