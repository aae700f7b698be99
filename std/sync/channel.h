// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/channel.h — a bounded multi-producer multi-consumer channel.
//
// `picos::sync::Channel<T>` is the channel Go and Rust users expect: a FIFO buffer of at most
// `capacity()` values between any number of senders and receivers. `send` suspends the
// *fiber* while the buffer is full; `receive` suspends it while the buffer is empty. With
// capacity 0 the channel is a rendezvous: a `send` completes only when a receiver takes the
// value. Written only against //picos, so it runs on every scheduler and between plain
// threads (each an implicit fiber that blocks), and values may cross threads.
//
// Behaviour:
//  - Fair, no barging: waiting senders are served in arrival order, and so are waiting
//    receivers. A sender that finds a receiver waiting hands its value directly to the oldest
//    one; a receiver that frees a slot in a full buffer moves the oldest waiting sender's
//    value into the buffer at once (so a newcomer can never overtake a waiter). Values from
//    one sender are received in the order sent (per receiver, and overall for one receiver).
//  - `close()` ends the stream: senders fail from then on (`send` throws ChannelClosed,
//    `try_send` returns kClosed), receivers drain what is buffered and then get `nullopt`
//    (`receive`) / kClosed (`try_receive`). Waiting senders are woken and throw ChannelClosed,
//    their values *not* delivered; waiting receivers (the buffer is then empty) get nullopt.
//    `close` is idempotent, never suspends, is not a cancelation point and never throws.
//  - `send` and `receive` are cancelation points. They check the fiber's cancelation first:
//    in a canceled fiber they throw its reason and do nothing, even when they could complete
//    at once. A waiter canceled while suspended unlinks its node (O(1), nothing is left
//    behind) and throws the reason.
//  - Completion wins a race with cancelation, so a value is never lost or duplicated. A
//    transfer happens under the channel's lock, in one step: the value moves from the
//    sender (its argument, or the buffer) to the receiver (the buffer, or its result). If a
//    waiter's transfer happened before the canceled waiter took the lock back, the operation
//    has completed: `send` returns normally (its value is delivered) and `receive` returns
//    the value; the cancelation stays pending and is thrown by the fiber's next cancelation
//    point (the next `send`/`receive` included). So: an operation that throws had no effect
//    on the channel, and one that returns did. We do not "undo" a receive by putting the value
//    back at the front of the buffer: that could exceed the capacity (senders may have
//    refilled it meanwhile) and, with several consumers, other receivers have already taken
//    later values, so the order would no longer be the send order; the sender side cannot be
//    undone at all (its value has moved).
//  - `try_send` / `try_receive` never suspend, are not cancelation points, and report the
//    outcome as a status (see SendStatus, ReceiveStatus). A failed `try_send` leaves the value
//    with the caller, unmoved.
//  - Misuse: a capacity above `kMaxCapacity` (typically a negative number converted to
//    std::size_t) throws std::invalid_argument. Destroying a channel while fibers wait on it
//    is undefined (as for std::mutex); buffered values are destroyed with it.
//
// Requirements on T: move constructible, and its move constructor and destructor must not
// throw (static_assert): values are moved and destroyed under the channel's spin lock, which
// must stay short and must never be reentered (a T whose destructor uses the same channel
// deadlocks). Move-only types (std::unique_ptr) work.
//
// Cost: an uncontended operation is one short spin-locked section and no allocation (the
// buffer grows by doubling up to the capacity as it fills, then stays). The usual `send` and
// `receive` (room in the buffer, or a buffered value, and nobody waiting on the other side)
// are inline; the rest is out of line (chan_throughput on fifo: 12.6-12.8 ns a message on the
// reference VM, docs/benchmarks.md). A suspending
// operation creates one trigger; its waiter node lives on the waiting fiber's stack. A
// hand-off moves T once into the receiver (directly or through the buffer).
//
// Thread safety: every operation may be called from any fiber or thread concurrently.
//
// The select hook (used by //std/event's channel events): every waiter is a
// `ChannelWaiter<T>` that may carry a `claim`, a `Computation<void>`. A waiter with a claim is
// one alternative among several offered by one selecting fiber (all its alternatives share
// the claim). Whoever matches the waiter (a sender or receiver on the other side, or `close`)
// must first complete the claim (`try_finish()`, under the channel's lock) to commit that
// alternative; if the claim is already completed (another alternative won, or the select was
// canceled) the channel unlinks the waiter and skips it to the next one. Plain `send` and
// `receive` waiters have no claim and are always committed. A select offers each alternative
// with `offer_send` / `offer_receive` (below): under the channel's lock they either commit at
// once (completing the claim, together with the matched waiter's own claim in one picos::Tx
// when that waiter is itself a select alternative), or link the node, or report the claim
// lost. After the claim completes the select calls `withdraw` on each linked node: it takes
// the lock (so a transfer still being written by the committing party is finished), unlinks
// the node if it is still linked, and leaves `outcome` final. The committing party signals the
// node's `trigger` after the transfer; a select may give all its nodes one trigger that nobody
// awaits (it awaits the claim instead). Claims are completed under the channel's spin lock,
// so the triggers attached to them must be plain resume actions (as a scheduler's are).

#ifndef PICOS_STD_SYNC_CHANNEL_H_
#define PICOS_STD_SYNC_CHANNEL_H_

#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "picos/computation.h"
#include "picos/debug.h"
#include "picos/fiber.h"
#include "picos/internal/dcheck.h"
#include "picos/internal/spin_lock.h"
#include "picos/trigger.h"
#include "picos/tx.h"
#include "std/sync/waiters.h"

namespace picos::sync {

// Thrown by `send` on a closed channel (also when the channel is closed while it waits; the
// value is then not delivered). `what()` names the operation.
class ChannelClosed : public std::runtime_error {
 public:
  explicit ChannelClosed(const char* operation);
  ~ChannelClosed() override;
};

// Outcome of `try_send`.
enum class SendStatus : std::uint8_t {
  kSent,    // delivered: buffered, or handed to a waiting receiver (value moved from)
  kFull,    // no room and no waiting receiver (value untouched)
  kClosed,  // the channel is closed (value untouched)
};

// Outcome of `try_receive`.
enum class ReceiveStatus : std::uint8_t {
  kReceived,  // a value was taken (from the buffer, or from a waiting sender)
  kEmpty,     // nothing available now, the channel is open
  kClosed,    // the channel is closed and drained: nothing will ever arrive
};

// Outcome of `offer_send` / `offer_receive` (the select hook).
enum class OfferStatus : std::uint8_t {
  kCommitted,  // the claim was completed by this call: the node's `outcome` says what happened
  kQueued,     // the node is linked; another party may commit it later (then call `withdraw`)
  kLost,       // the claim was already completed: nothing done, the node is not linked
};

// A waiting `send` or `receive` (or a select alternative from //std/event). Lives on the waiting
// fiber's stack; linked in the channel's sender or receiver queue under the channel's lock.
template <typename T>
struct ChannelWaiter : Waiter {
  enum class Outcome : std::uint8_t {
    kWaiting,      // still queued (or being skipped)
    kTransferred,  // the value moved: out of `value` (sender) / into `*slot` (receiver)
    kClosed,       // woken by close(): nothing moved
  };
  T* value = nullptr;                        // sender: the value to move out
  std::optional<T>* slot = nullptr;          // receiver: where the value is put
  const Computation<void>* claim = nullptr;  // select hook: commit by try_finish() (see top)
  Outcome outcome = Outcome::kWaiting;       // written under the lock, before the signal
};

template <typename T>
class Channel {
  static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                "picos::sync::Channel<T> needs a nothrow move constructible and destructible T");
  using Node = ChannelWaiter<T>;
  using Outcome = typename Node::Outcome;

 public:
  // The largest capacity accepted (a larger one is almost always a negative number).
  static constexpr std::size_t kMaxCapacity = std::size_t{1} << 40;

  // A channel holding at most `capacity` values; 0 makes a rendezvous channel. Throws
  // std::invalid_argument if capacity > kMaxCapacity. Allocates nothing until values are
  // buffered.
  explicit Channel(std::size_t capacity) : capacity_(capacity) {
    if (capacity > kMaxCapacity) {
      throw std::invalid_argument("picos::sync::Channel: capacity " + std::to_string(capacity) +
                                  " is larger than kMaxCapacity (a negative number?)");
    }
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  ~Channel() = default;

  // Sends `value`: hands it to the oldest waiting receiver, or buffers it, or else suspends
  // the fiber until a receiver makes room (capacity > 0) or takes it (capacity 0).
  // Throws, without delivering the value (it is destroyed with the argument):
  //  - the fiber's cancelation reason if it is canceled on entry or while waiting (unless the
  //    value was taken in the same instant: then send returns normally, see the top);
  //  - ChannelClosed if the channel is closed on entry or while waiting (when the fiber is
  //    also canceled, the cancelation reason is thrown instead);
  //  - std::bad_alloc if the buffer had to grow and could not.
  void send(T value) {
    Fiber::current().check();
    lock_.lock();
    // The usual case inline: room in the ring as allocated (no growth) and no receiver
    // waiting, so that nothing below throws (T's move does not: static_assert above).
    if (count_ < ring_.size() && n_receivers_ == 0 && !closed_) [[likely]] {
      put_locked(std::move(value));
      lock_.unlock();
      return;
    }
    send_slow(value);
  }

  // Sends `value` if that is possible without waiting. On kSent the value was moved from;
  // on kFull and kClosed it is left untouched with the caller. Never suspends, is not a
  // cancelation point (works in a canceled fiber). Throws only std::bad_alloc (buffer
  // growth; the value is then untouched).
  SendStatus try_send(T&& value) { return try_send_impl(value); }
  // Same, sending a copy. A T whose copy constructor is noexcept is copied under the lock,
  // only when it is sent. Any other T is copied first, outside the lock, sent or not: a copy
  // that throws then changes nothing (the exception reaches the caller, no receiver is taken,
  // nothing is buffered), and no copy constructor (an allocation, say) runs under the spin
  // lock. Throws what the copy throws, or std::bad_alloc as above.
  SendStatus try_send(const T& value) {
    static_assert(std::is_copy_constructible_v<T>, "try_send(const T&) needs a copyable T");
    if constexpr (std::is_nothrow_copy_constructible_v<T>) {
      return try_send_impl(value);
    } else {
      T copy(value);
      return try_send_impl(copy);  // moved from only when sent
    }
  }

  // Receives the oldest value: from the buffer (then moves the oldest waiting sender's value
  // into the freed slot), or directly from the oldest waiting sender (capacity 0), or else
  // suspends the fiber until a sender hands one over. Returns std::nullopt once the channel
  // is closed and drained (at once if so on entry; also to receivers waiting when it closes).
  // Throws the fiber's cancelation reason if it is canceled on entry or while waiting,
  // taking nothing (unless a value was handed over in the same instant: then it is returned,
  // see the top; a receiver both canceled and woken by close() throws the reason).
  std::optional<T> receive() {
    Fiber::current().check();
    lock_.lock();
    // The usual case inline: a buffered value and no sender waiting for its slot.
    if (count_ > 0 && n_senders_ == 0) [[likely]] {
      std::optional<T> out(pop_locked());
      lock_.unlock();
      return out;
    }
    return receive_slow();
  }

  // Takes a value if one is available now (buffered, or from a waiting sender). On kReceived
  // the value is emplaced into `out`; otherwise `out` is left unchanged. kEmpty: nothing now,
  // the channel is open; kClosed: closed and drained. Never suspends, not a cancelation
  // point, never throws. A value that `out` held is destroyed after the channel's lock is
  // released (its destructor may use this channel).
  ReceiveStatus try_receive(std::optional<T>& out) noexcept {
    if (!out.has_value()) return try_receive_into_empty(out);
    std::optional<T> got;
    const ReceiveStatus status = try_receive_into_empty(got);
    if (got.has_value()) out.emplace(std::move(*got));
    return status;
  }
  // Same, for callers that need not tell "empty" from "closed": nullopt for both.
  std::optional<T> try_receive() noexcept {
    std::optional<T> out;
    (void)try_receive_into_empty(out);
    return out;
  }

  // Closes the channel (see the top): wakes every waiting sender (ChannelClosed) and
  // receiver (nullopt). Idempotent; never suspends, not a cancelation point, never throws.
  void close() noexcept {
    absl::InlinedVector<Trigger::Wake, 8> wake;  // up to eight waiters without a malloc
    {
      internal::SpinLockGuard guard(lock_);
      if (closed_) return;
      closed_ = true;
      for (auto* q : {&senders_, &receivers_}) {
        std::size_t& n = q == &senders_ ? n_senders_ : n_receivers_;
        while (Node* w = take_locked(*q, n)) {
          Trigger::Wake one = finish_locked(w, Outcome::kClosed);
          try {
            wake.push_back(std::move(one));
          } catch (...) {
            one.run();  // out of memory: wake it now (a resume never blocks)
          }
        }
      }
    }
    for (Trigger::Wake& w : wake) w.run();
  }

  // ---- the select hook (see the top; used by //std/event) ----------------------------

  // Offers to send `*w.value` as one alternative of a select whose alternatives share
  // `*w.claim` (both must be set; `w.slot` null). If the send can complete now (the channel is
  // closed, a receiver waits, or there is room), completes the claim -- in one picos::Tx with
  // a waiting receiver's own claim when it has one -- and then moves the value (outcome
  // kTransferred) or, when closed, moves nothing (outcome kClosed): kCommitted. Otherwise
  // links `w` among the waiting senders (kQueued) unless the claim is already completed
  // (kLost). Never suspends, is not a cancelation point. Throws only std::bad_alloc (buffer
  // growth or the Tx), before committing anything.
  OfferStatus offer_send(Node& w) {
    internal::SpinLockGuard guard(lock_);
    if (!w.claim->is_running()) return OfferStatus::kLost;
    if (closed_) return commit_alone_locked(w, Outcome::kClosed);
    if (Node* r = match_locked(receivers_, n_receivers_, w)) {
      if (r == &w) return OfferStatus::kLost;
      r->slot->emplace(std::move(*w.value));
      w.outcome = Outcome::kTransferred;
      Trigger::Wake wake = finish_locked(r, Outcome::kTransferred);
      guard.unlock();
      wake.run();
      return OfferStatus::kCommitted;
    }
    if (count_ < capacity_) {
      if (count_ == ring_.size()) grow_locked();  // may throw: nothing committed yet
      if (!w.claim->try_finish()) return OfferStatus::kLost;
      put_locked(std::move(*w.value));  // grown above: cannot throw
      w.outcome = Outcome::kTransferred;
      return OfferStatus::kCommitted;
    }
    enqueue_locked(w);
    return OfferStatus::kQueued;
  }

  // Offers to receive into `*w.slot` (empty; `w.value` null, `w.claim` set), like
  // offer_send: kCommitted with outcome kTransferred (a value was taken: buffered, or from a
  // waiting sender, committing its claim with ours when it has one) or kClosed (closed and
  // drained: nothing taken); else kQueued or kLost. Never suspends, never throws except
  // std::bad_alloc from the Tx (before committing anything).
  OfferStatus offer_receive(Node& w) {
    internal::SpinLockGuard guard(lock_);
    if (!w.claim->is_running()) return OfferStatus::kLost;
    if (count_ > 0) {
      if (!w.claim->try_finish()) return OfferStatus::kLost;
      w.slot->emplace(pop_locked());
      w.outcome = Outcome::kTransferred;
      if (Node* s = take_locked(senders_, n_senders_)) {
        put_locked(std::move(*s->value));  // the slot just freed
        Trigger::Wake wake = finish_locked(s, Outcome::kTransferred);
        guard.unlock();
        wake.run();
      }
      return OfferStatus::kCommitted;
    }
    if (Node* s = match_locked(senders_, n_senders_, w)) {
      if (s == &w) return OfferStatus::kLost;
      w.slot->emplace(std::move(*s->value));
      w.outcome = Outcome::kTransferred;
      Trigger::Wake wake = finish_locked(s, Outcome::kTransferred);
      guard.unlock();
      wake.run();
      return OfferStatus::kCommitted;
    }
    if (closed_) return commit_alone_locked(w, Outcome::kClosed);
    enqueue_locked(w);
    return OfferStatus::kQueued;
  }

  // After `*w.claim` has completed: unlinks `w` if it is still linked. On return `w.outcome`
  // is final (kWaiting: this alternative was not committed) and no other party touches `w`.
  void withdraw(Node& w) noexcept {
    internal::SpinLockGuard guard(lock_);
    if (w.value != nullptr) {
      unlink_locked(senders_, n_senders_, &w);
    } else {
      unlink_locked(receivers_, n_receivers_, &w);
    }
  }

  // The values buffered now (racy: for diagnostics and tests).
  std::size_t size() const noexcept {
    internal::SpinLockGuard guard(lock_);
    return count_;
  }
  std::size_t capacity() const noexcept { return capacity_; }
  bool is_closed() const noexcept {
    internal::SpinLockGuard guard(lock_);
    return closed_;
  }
  // Fibers suspended in send / receive now (racy: for diagnostics and tests).
  std::size_t waiting_senders() const noexcept {
    internal::SpinLockGuard guard(lock_);
    return n_senders_;
  }
  std::size_t waiting_receivers() const noexcept {
    internal::SpinLockGuard guard(lock_);
    return n_receivers_;
  }

 private:
  // send and receive past their usual case (out of line, so that the inline path keeps few
  // registers): entered with lock_ held, which they release.
  ABSL_ATTRIBUTE_NOINLINE void send_slow(T& value) ABSL_UNLOCK_FUNCTION(lock_) {
    internal::SpinLockGuard guard(lock_, std::adopt_lock);
    if (closed_) throw ChannelClosed("send");
    if (Node* r = take_locked(receivers_, n_receivers_)) {
      r->slot->emplace(std::move(value));
      Trigger::Wake wake = finish_locked(r, Outcome::kTransferred);
      guard.unlock();
      wake.run();
      return;
    }
    if (count_ < capacity_) {
      push_locked(std::move(value));
      return;
    }
    Node w;
    w.value = &value;
    enqueue_locked(w);
    guard.unlock();
    std::exception_ptr reason = await_outcome(w);
    // Read after the waker's signal (or under the lock): the outcome is final now.
    if (w.outcome == Outcome::kTransferred) return;  // delivered: completion wins
    if (reason) std::rethrow_exception(reason);
    throw ChannelClosed("send");
  }
  // try_receive into an `out` with no value (take_now_locked emplaces under the lock).
  ReceiveStatus try_receive_into_empty(std::optional<T>& out) noexcept {
    internal::SpinLockGuard guard(lock_);
    Node* sender = nullptr;
    if (take_now_locked(out, sender)) {
      Trigger::Wake wake = finish_sender_locked(sender);
      guard.unlock();
      wake.run();
      return ReceiveStatus::kReceived;
    }
    return closed_ ? ReceiveStatus::kClosed : ReceiveStatus::kEmpty;
  }
  ABSL_ATTRIBUTE_NOINLINE std::optional<T> receive_slow() ABSL_UNLOCK_FUNCTION(lock_) {
    internal::SpinLockGuard guard(lock_, std::adopt_lock);
    std::optional<T> out;
    Node* sender = nullptr;
    if (take_now_locked(out, sender)) {
      Trigger::Wake wake = finish_sender_locked(sender);
      guard.unlock();
      wake.run();
      return out;
    }
    if (closed_) return out;  // closed and drained
    Node w;
    w.slot = &out;
    enqueue_locked(w);
    guard.unlock();
    std::exception_ptr reason = await_outcome(w);
    if (w.outcome == Outcome::kTransferred) return out;  // completion wins
    if (reason) std::rethrow_exception(reason);
    return out;  // kClosed: nullopt
  }

  // `value` is T& (moved from) or, for a T whose copy cannot throw, const T& (copied); it is
  // touched only on kSent.
  template <typename V>
  SendStatus try_send_impl(V& value) {
    internal::SpinLockGuard guard(lock_);
    if (closed_) return SendStatus::kClosed;
    if (Node* r = take_locked(receivers_, n_receivers_)) {
      r->slot->emplace(std::forward<V>(value));
      Trigger::Wake wake = finish_locked(r, Outcome::kTransferred);
      guard.unlock();
      wake.run();
      return SendStatus::kSent;
    }
    if (count_ < capacity_) {
      push_locked(std::forward<V>(value));  // grows first: a bad_alloc leaves value untouched
      return SendStatus::kSent;
    }
    return SendStatus::kFull;
  }

  // The oldest waiter of `q` whose claim commits, unlinked; waiters whose claim fails are
  // unlinked and skipped. nullptr if none.
  Node* take_locked(WaiterList& q, std::size_t& n) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_) {
    while (Waiter* w = q.pop_front()) {
      --n;
      Node* node = static_cast<Node*>(w);
      if (node->claim == nullptr || node->claim->try_finish()) return node;
    }
    return nullptr;
  }

  // Queues `w` to wait: on senders_ if it carries a value, else on receivers_ (withdraw
  // takes it off again).
  void enqueue_locked(Node& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_) {
    if (w.value != nullptr) {
      senders_.push_back(&w);
      ++n_senders_;
    } else {
      receivers_.push_back(&w);
      ++n_receivers_;
    }
  }

  // For send and receive, once `w` is queued and the lock released: waits for a hand-off,
  // close() or the fiber's cancelation; a canceled waiter that nobody chose withdraws.
  // Returns the cancelation reason, if any; `w.outcome` is final afterwards.
  std::exception_ptr await_outcome(Node& w) {
    static constexpr debug::WaitKind kSend{"picos::sync::Channel", "send"};
    static constexpr debug::WaitKind kReceive{"picos::sync::Channel", "receive"};
    w.trigger.set_wait_label(w.value != nullptr ? kSend : kReceive, this);
    std::exception_ptr reason = w.trigger.await();
    if (reason) withdraw(w);
    return reason;
  }

  void unlink_locked(WaiterList& q, std::size_t& n, Node* w) noexcept
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_) {
    if (w->linked) {
      q.remove(w);
      --n;
    }
  }

  // Completes the claim of a select node alone (no partner) and records `outcome`.
  static OfferStatus commit_alone_locked(Node& w, Outcome outcome) noexcept {
    if (!w.claim->try_finish()) return OfferStatus::kLost;
    w.outcome = outcome;
    return OfferStatus::kCommitted;
  }

  // For offer_send/offer_receive: finds the oldest waiter of `q` (the other side) that can be
  // matched with the select node `w`, and commits both: `w`'s claim alone if the waiter has
  // none, or both claims in one Tx. Returns that waiter, unlinked (the caller transfers and
  // signals it); &w if `w`'s claim was found completed (lost); nullptr if no waiter can be
  // matched. Waiters whose claim is completed are dropped (as take_locked does); waiters of
  // the same select (same claim) are skipped and stay in place.
  Node* match_locked(WaiterList& q, std::size_t& n, Node& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_) {
    WaiterList own;  // the same select's nodes, set aside and put back in front
    std::size_t n_own = 0;
    Node* result = nullptr;
    while (Waiter* x = q.pop_front()) {
      --n;
      Node* node = static_cast<Node*>(x);
      if (node->claim == w.claim) {
        own.push_back(node);
        ++n_own;
        continue;
      }
      if (node->claim == nullptr) {
        if (w.claim->try_finish()) {
          result = node;
        } else {
          own.push_back(node);  // put back where it was
          ++n_own;
          result = &w;
        }
        break;
      }
      bool done = false;
      while (!done) {
        if (!node->claim->is_running()) break;  // dead alternative: drop it
        if (!w.claim->is_running()) {
          own.push_back(node);  // put back where it was
          ++n_own;
          result = &w;
          done = true;
          break;
        }
        Tx tx;
        if (tx.try_finish(*w.claim) && tx.try_finish(*node->claim) && tx.try_commit()) {
          result = node;
          done = true;
        }
        // else one of the claims completed meanwhile: look again
      }
      if (done) break;
    }
    if (n_own > 0) {  // rare: put the set-aside nodes back at the front, in their order
      WaiterList rest;
      while (Waiter* x = q.pop_front()) rest.push_back(x);
      while (Waiter* x = own.pop_front()) q.push_back(x);
      while (Waiter* x = rest.pop_front()) q.push_back(x);
      n += n_own;
    }
    return result;
  }

  // Records the outcome of a node taken off a queue and signals its trigger, deferring the
  // waiter's resume, which the caller runs once it has released lock_ (Trigger::
  // signal_deferred: a suspended waiter stays so until then, its node valid; one not yet
  // suspended is signaled then, through a reference; one already resumed by its cancelation
  // gets nothing to run).
  static Trigger::Wake finish_locked(Node* w, Outcome outcome) noexcept {
    w->outcome = outcome;
    return w->trigger.signal_deferred();
  }

  // Moves an available value into `out` (empty on entry): the buffer's oldest, refilled from
  // the oldest waiting sender, or a waiting sender's directly. Returns false if none. When it
  // took a sender's value it sets `sender` to that sender's node: the caller passes it to
  // finish_sender_locked before releasing lock_, and runs the Wake after.
  bool take_now_locked(std::optional<T>& out, Node*& sender) noexcept
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_) {
    if (count_ > 0) {
      out.emplace(pop_locked());
      // A sender waits only while the buffer is full: its value takes the freed slot.
      if (Node* s = take_locked(senders_, n_senders_)) {
        put_locked(std::move(*s->value));  // the slot just freed
        sender = s;
      }
      return true;
    }
    if (Node* s = take_locked(senders_, n_senders_)) {  // capacity 0: take it directly
      out.emplace(std::move(*s->value));
      sender = s;
      return true;
    }
    return false;
  }
  // finish_locked for the sender take_now_locked took its value from, if any.
  static Trigger::Wake finish_sender_locked(Node* sender) noexcept {
    return sender != nullptr ? finish_locked(sender, Outcome::kTransferred) : Trigger::Wake();
  }

  // ---- the ring buffer ----
  T pop_locked() noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_) {
    std::optional<T>& slot = ring_[head_];
    T v = std::move(*slot);
    slot.reset();
    head_ = head_ + 1 == ring_.size() ? 0 : head_ + 1;
    --count_;
    return v;
  }
  // Appends `v`, growing the ring first if it is full (may throw std::bad_alloc, leaving `v`
  // untouched).
  template <typename V>
  void push_locked(V&& v) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_) {
    if (count_ == ring_.size()) [[unlikely]] {
      grow_locked();
    }
    put_locked(std::forward<V>(v));
  }
  // Appends `v` to a ring with a free slot (count_ < ring_.size()): never throws.
  template <typename V>
  void put_locked(V&& v) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_) {
    PICOS_DCHECK(count_ < ring_.size());
    std::size_t tail = head_ + count_;
    if (tail >= ring_.size()) tail -= ring_.size();
    ring_[tail].emplace(std::forward<V>(v));
    ++count_;
  }
  // Doubles the ring (at least 4 slots, at most capacity_). Strong guarantee: a bad_alloc
  // leaves everything as it was. Out of line: push_locked, inlined into try_send, stays small.
  ABSL_ATTRIBUTE_NOINLINE void grow_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_) {
    std::size_t n = ring_.size() < 2 ? 4 : 2 * ring_.size();
    if (n > capacity_) n = capacity_;
    std::vector<std::optional<T>> bigger(n);
    for (std::size_t i = 0; i < count_; ++i) {
      std::size_t j = head_ + i;
      if (j >= ring_.size()) j -= ring_.size();
      bigger[i].emplace(std::move(*ring_[j]));
    }
    ring_.swap(bigger);
    head_ = 0;
  }

  const std::size_t capacity_;
  mutable internal::SpinLock lock_;
  bool closed_ ABSL_GUARDED_BY(lock_) = false;
  std::vector<std::optional<T>> ring_ ABSL_GUARDED_BY(lock_);  // count_ values from head_
  std::size_t head_ ABSL_GUARDED_BY(lock_) = 0;
  std::size_t count_ ABSL_GUARDED_BY(lock_) = 0;
  WaiterList senders_ ABSL_GUARDED_BY(lock_);    // only while count_ == capacity_
  WaiterList receivers_ ABSL_GUARDED_BY(lock_);  // only while count_ == 0
  std::size_t n_senders_ ABSL_GUARDED_BY(lock_) = 0;
  std::size_t n_receivers_ ABSL_GUARDED_BY(lock_) = 0;
};

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_CHANNEL_H_
