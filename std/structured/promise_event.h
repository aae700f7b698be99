// Copyright 2026 The Picos for C++ Authors.
//
// std/structured/promise_event.h — a Promise's completion as a CML event (//std/event).
//
// `completed(promise)` is ready when the promise's fiber has finished: syncing on it returns
// the promise's value, or rethrows what it raised (Terminate if it was terminated). It never
// terminates the promise; a select that picks another alternative leaves it running. Like
// every event it may be synced many times and from any fiber. A separate target so that
// //std/structured itself does not depend on //std/event.

#ifndef PICOS_STD_STRUCTURED_PROMISE_EVENT_H_
#define PICOS_STD_STRUCTURED_PROMISE_EVENT_H_

#include "std/event/event.h"
#include "std/structured/promise.h"

namespace picos::structured {

template <typename T>
event::Event<T> completed(const Promise<T>& promise) {
  return event::from_computation(promise.computation());
}

}  // namespace picos::structured

#endif  // PICOS_STD_STRUCTURED_PROMISE_EVENT_H_
