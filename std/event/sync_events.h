// Copyright 2026 The Picos for C++ Authors.
//
// std/event/sync_events.h — events for the blocking operations of //std/sync.
//
// Each function returns an Event whose sync behaves like the blocking operation, so it can be
// one alternative of a picos::event::select:
//  - `read_evt(ivar)`: the Ivar's value (a copy) once filled; throws its poison.
//  - `wait_evt(latch)`: ready once the Latch reaches zero.
//  - `read_evt(cursor)`: the value at a Stream cursor and the cursor after it; throws the
//    poison. Nothing is consumed by a losing alternative (streams are not consumed anyway).
//  - `receive_evt(channel)`: a value taken from the Channel, or std::nullopt once it is closed
//    and drained (as Channel::receive). A losing alternative takes nothing.
//  - `send_evt(channel, value)`: delivers a copy of `value` (as Channel::send); sync throws
//    ChannelClosed if the channel is closed (nothing delivered). A losing alternative
//    delivers nothing. T must be copyable (the event may be synced several times).
//
// The Ivar, Latch, Stream and Channel must outlive every sync on their events (the events
// hold references to a Latch and a Channel; Ivar and Stream events hold handles). Channel
// events use the channel's select hook (see std/sync/channel.h): a hand-off between a select's
// send and another select's receive commits both selects atomically in one picos::Tx.

#ifndef PICOS_STD_EVENT_SYNC_EVENTS_H_
#define PICOS_STD_EVENT_SYNC_EVENTS_H_

#include <memory>
#include <optional>
#include <utility>

#include "picos/computation.h"
#include "picos/internal/thread_cache.h"
#include "std/event/event.h"
#include "std/sync/channel.h"
#include "std/sync/ivar.h"
#include "std/sync/latch.h"
#include "std/sync/stream.h"

namespace picos::event {

template <typename T>
Event<T> read_evt(const sync::Ivar<T>& ivar) {
  return from_computation(ivar.computation());
}

Event<void> wait_evt(const sync::Latch& latch);

template <typename T>
Event<std::pair<T, typename sync::Stream<T>::Cursor>> read_evt(
    const typename sync::Stream<T>::Cursor& cursor) {
  using R = std::pair<T, typename sync::Stream<T>::Cursor>;
  return internal::from_proto_fn<R>([cursor] {
    auto result = [cursor]() -> R { return *cursor.peek(); };
    return std::unique_ptr<internal::TypedAlt<R>>(
        new internal::FnComputationAlt<R, decltype(result)>(cursor.computation(),
                                                            std::move(result)));
  });
}

namespace internal {

template <typename T>
class ChannelAlt {
 protected:
  using Node = sync::ChannelWaiter<T>;
  using Outcome = typename Node::Outcome;

  explicit ChannelAlt(sync::Channel<T>& ch) : ch_(&ch) {}
  void prepare(Selection& s) {
    node_.claim = &s.claim;
    node_.trigger = s.shared;
  }
  bool offer_result(sync::OfferStatus st) const noexcept {
    return st == sync::OfferStatus::kCommitted;
  }
  bool withdraw_node() noexcept {
    ch_->withdraw(node_);
    return node_.outcome != Outcome::kWaiting;
  }

  sync::Channel<T>* ch_;
  Node node_;
};

template <typename T>
class ReceiveAlt final : public TypedAlt<std::optional<T>>,
                         ChannelAlt<T>,
                         public picos::internal::ThreadCached<ReceiveAlt<T>> {
 public:
  explicit ReceiveAlt(sync::Channel<T>& ch) : ChannelAlt<T>(ch) { this->node_.slot = &slot_; }
  bool request(Selection& s) override {
    this->prepare(s);
    return this->offer_result(this->ch_->offer_receive(this->node_));
  }
  bool withdraw(Selection&) noexcept override { return this->withdraw_node(); }
  std::optional<T> take() override { return std::move(slot_); }  // nullopt if closed

 private:
  std::optional<T> slot_;
};

template <typename T>
class SendAlt final : public TypedAlt<void>,
                      ChannelAlt<T>,
                      public picos::internal::ThreadCached<SendAlt<T>> {
 public:
  SendAlt(sync::Channel<T>& ch, T value) : ChannelAlt<T>(ch), value_(std::move(value)) {
    this->node_.value = &value_;
  }
  bool request(Selection& s) override {
    this->prepare(s);
    return this->offer_result(this->ch_->offer_send(this->node_));
  }
  bool withdraw(Selection&) noexcept override { return this->withdraw_node(); }
  void take() override {
    if (this->node_.outcome == ChannelAlt<T>::Outcome::kClosed) throw sync::ChannelClosed("send");
  }

 private:
  T value_;
};

}  // namespace internal

template <typename T>
Event<std::optional<T>> receive_evt(sync::Channel<T>& channel) {
  sync::Channel<T>* ch = &channel;
  return internal::from_proto_fn<std::optional<T>>([ch] {
    return std::unique_ptr<internal::TypedAlt<std::optional<T>>>(new internal::ReceiveAlt<T>(*ch));
  });
}

template <typename T>
Event<void> send_evt(sync::Channel<T>& channel, T value) {
  sync::Channel<T>* ch = &channel;
  return internal::from_proto_fn<void>([ch, value = std::move(value)] {
    return std::unique_ptr<internal::TypedAlt<void>>(new internal::SendAlt<T>(*ch, value));
  });
}

}  // namespace picos::event

#endif  // PICOS_STD_EVENT_SYNC_EVENTS_H_
